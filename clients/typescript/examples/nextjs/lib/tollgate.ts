import "server-only";
import { Tollgate } from "@tollgate/client";

// The one place that holds the secret key: server code only ("server-only" makes importing this from a client
// component a build error).
const secretKey = process.env.TOLLGATE_SECRET_KEY;

export const tollgate = new Tollgate({
  baseUrl: process.env.TOLLGATE_URL ?? "http://localhost:5080",
  secretKey: secretKey ?? "missing: set TOLLGATE_SECRET_KEY",
});

export const configured = secretKey !== undefined && secretKey.length > 0;
