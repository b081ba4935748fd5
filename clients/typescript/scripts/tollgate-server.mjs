// Starts a real Tollgate server for the tests: the built server (dotnet tollgate.dll) on a free loopback port, with a
// temporary SQLite database, the Sandbox provider, the demo catalog and a generated secret key.
//
// Which server:
//   TOLLGATE_SERVER_DLL  path of a built tollgate.dll (the .NET test project passes its own build);
//   otherwise src/Tollgate.Server/bin/Debug/net10.0/tollgate.dll of this repository, built first when missing.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

export function serverDll() {
  const given = process.env.TOLLGATE_SERVER_DLL;
  if (given) {
    if (!existsSync(given)) throw new Error(`TOLLGATE_SERVER_DLL=${given} does not exist.`);
    return given;
  }
  const dll = join(repo, "src/Tollgate.Server/bin/Debug/net10.0/tollgate.dll");
  if (!existsSync(dll)) {
    const build = spawnSync("dotnet", ["build", join(repo, "src/Tollgate.Server"), "-v", "q", "-nologo"], { stdio: "inherit" });
    if (build.status !== 0) throw new Error("dotnet build src/Tollgate.Server failed; set TOLLGATE_SERVER_DLL to a built tollgate.dll.");
  }
  return dll;
}

export async function freePort() {
  return await new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** SQLite in the server's temp folder, unless TOLLGATE_TEST_DATABASE_CONNECTION names another database (the .NET test
 * project passes a PostgreSQL schema of its own there, with TOLLGATE_TEST_DATABASE_PROVIDER=postgres). */
function database(folder) {
  const connection = process.env.TOLLGATE_TEST_DATABASE_CONNECTION;
  return connection
    ? { Tollgate__Database__Provider: process.env.TOLLGATE_TEST_DATABASE_PROVIDER ?? "postgres", Tollgate__Database__ConnectionString: connection }
    : { Tollgate__Database__Provider: "sqlite", Tollgate__Database__ConnectionString: `Data Source=${join(folder, "tollgate.db")}` };
}

/** @returns {Promise<{ url: string, secretKey: string, stop: () => Promise<void>, log: () => string }>} */
export async function startTollgate({ env = {}, timeoutMs = 90_000 } = {}) {
  const dll = serverDll();
  const folder = mkdtempSync(join(tmpdir(), "tollgate-ts-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const secretKey = `tg_ts_test_${randomBytes(12).toString("hex")}`;
  let output = "";
  const child = spawn("dotnet", [dll, "--urls", url], {
    cwd: folder,
    env: {
      ...process.env,
      ...database(folder),
      Tollgate__ApiKeys__0: secretKey,
      Logging__LogLevel__Default: "Warning",
      "Logging__LogLevel__Microsoft.AspNetCore.DataProtection": "Error",
      DOTNET_NOLOGO: "1",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const exited = new Promise((done) => child.once("exit", (code) => done(code)));

  const stop = async () => {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(folder, { recursive: true, force: true });
  };

  try {
    await waitUntilAnswers(`${url}/healthz`, { child, output: () => output, timeoutMs, what: "The Tollgate server" });
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, secretKey, stop, log: () => output };
}

/** Waits until `url` answers 2xx; fails early when `child` exits first, with its output. */
export async function waitUntilAnswers(url, { child, output, timeoutMs, what }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before it answered:\n${output()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`${what} did not answer within ${timeoutMs} ms:\n${output()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
