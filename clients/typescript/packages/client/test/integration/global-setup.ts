import type { TestProject } from "vitest/node";
import { startTollgate } from "../../../../scripts/tollgate-server.mjs";

declare module "vitest" {
  export interface ProvidedContext {
    tollgate: { url: string; secretKey: string };
  }
}

/** One real Tollgate server for the integration tests: SQLite in a temp folder, the Sandbox, the demo catalog. */
export default async function setup(project: TestProject) {
  const server = await startTollgate();
  project.provide("tollgate", { url: server.url, secretKey: server.secretKey });
  return async () => {
    await server.stop();
  };
}
