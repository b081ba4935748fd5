import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { generate, target } from "../../../../scripts/openapi.mjs";
import { server } from "./support.js";

// The committed types are what the running server's document generates: a server change that changes the API fails
// here (regenerate with `npm run generate`, then fix what no longer type-checks).
it("GeneratedTypes_MatchTheRunningServersOpenApiDocument", async () => {
  const response = await fetch(`${server().url}/openapi/v1.json`);
  expect(response.status).toBe(200);

  const fresh = await generate(await response.json());

  expect(fresh === readFileSync(target, "utf8"), "packages/client/src/generated/openapi.ts is out of date: run npm run generate").toBe(true);
});
