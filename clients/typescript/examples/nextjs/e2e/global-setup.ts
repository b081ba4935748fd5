import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import { freePort, startTollgate, waitUntilAnswers } from "../../../scripts/tollgate-server.mjs";
import { chromiumMissing } from "./chromium.js";

declare module "vitest" {
  export interface ProvidedContext {
    example: { appUrl: string; tollgateUrl: string; secretKey: string } | { skip: string };
  }
}

const example = join(dirname(fileURLToPath(import.meta.url)), "..");

/** A Tollgate server (SQLite, Sandbox) and the example app built by `npm run build`, started with `next start`. */
export default async function setup(project: TestProject) {
  const missing = chromiumMissing();
  if (missing) {
    project.provide("example", { skip: missing });
    return;
  }
  if (!existsSync(join(example, ".next", "BUILD_ID"))) {
    throw new Error("The example is not built: run `npm run build` in clients/typescript first.");
  }

  const tollgate = await startTollgate();
  const port = await freePort();
  const appUrl = `http://127.0.0.1:${port}`;
  let output = "";
  const next = spawn(process.execPath, [join(example, "../../node_modules/next/dist/bin/next"), "start", "--port", String(port), "--hostname", "127.0.0.1"], {
    cwd: example,
    env: {
      ...process.env,
      TOLLGATE_URL: tollgate.url,
      TOLLGATE_SECRET_KEY: tollgate.secretKey,
      SESSION_SECRET: randomBytes(16).toString("hex"),
      NEXT_TELEMETRY_DISABLED: "1",
      NODE_ENV: "production",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  next.stdout.on("data", (chunk) => (output += chunk));
  next.stderr.on("data", (chunk) => (output += chunk));
  const stop = async () => {
    if (next.exitCode === null) {
      const exited = new Promise((r) => next.once("exit", r));
      next.kill("SIGTERM");
      await exited;
    }
    await tollgate.stop();
  };

  try {
    await waitUntilAnswers(appUrl, { child: next, output: () => output, timeoutMs: 60_000, what: "next start" });
  } catch (error) {
    await stop();
    throw error;
  }

  project.provide("example", { appUrl, tollgateUrl: tollgate.url, secretKey: tollgate.secretKey });
  return stop;
}
