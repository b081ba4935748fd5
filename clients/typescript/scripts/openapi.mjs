// The client's types come from the server's OpenAPI document.
//   node scripts/openapi.mjs generate   writes packages/client/src/generated/openapi.ts
//   node scripts/openapi.mjs check      fails when the committed file differs from what the live document generates
// The document is read from TOLLGATE_OPENAPI_URL when set (e.g. http://127.0.0.1:5080/openapi/v1.json); otherwise a
// Tollgate server is started for the purpose (scripts/tollgate-server.mjs).
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";
import { startTollgate } from "./tollgate-server.mjs";

export const target = join(dirname(fileURLToPath(import.meta.url)), "../packages/client/src/generated/openapi.ts");
const header = `// Generated from Tollgate's /openapi/v1.json by \`npm run generate\` (openapi-typescript). Do not edit:
// a test regenerates it from the running server and fails when it differs.

`;

async function liveDocument() {
  const given = process.env.TOLLGATE_OPENAPI_URL;
  if (given) return await (await fetch(given)).json();
  const server = await startTollgate();
  try {
    const response = await fetch(`${server.url}/openapi/v1.json`);
    if (!response.ok) throw new Error(`GET /openapi/v1.json answered ${response.status}`);
    return await response.json();
  } finally {
    await server.stop();
  }
}

export async function generate(document) {
  return header + astToString(await openapiTS(document));
}

const command = import.meta.url === pathToFileURL(process.argv[1] ?? "").href ? process.argv[2] : undefined;
if (command === "generate" || command === "check") {
  const fresh = await generate(await liveDocument());
  if (command === "generate") {
    writeFileSync(target, fresh);
    console.log(`wrote ${target}`);
  } else {
    const committed = readFileSync(target, "utf8");
    if (committed !== fresh) {
      const a = committed.split("\n");
      const b = fresh.split("\n");
      const line = a.findIndex((text, i) => text !== b[i]);
      console.error(
        `packages/client/src/generated/openapi.ts is out of date with the server's /openapi/v1.json ` +
          `(first difference at line ${line + 1}:\n  committed: ${a[line]}\n  live:      ${b[line]}).\n` +
          `Run \`npm run generate\` beside a server built from this tree, then fix what no longer type-checks.`,
      );
      process.exit(1);
    }
    console.log("openapi.ts matches the live /openapi/v1.json");
  }
} else if (command !== undefined || import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  console.error(`unknown command ${command}: generate | check`);
  process.exit(2);
}
