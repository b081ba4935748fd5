import { existsSync } from "node:fs";

/** Debian's Chromium (apt-get install chromium), or TOLLGATE_TEST_CHROMIUM; a browser is never downloaded. */
export const chromiumPath = process.env.TOLLGATE_TEST_CHROMIUM || "/usr/bin/chromium";

/** Why the browser test cannot run here, or undefined when it can. Under CI=true a missing browser is a failure. */
export function chromiumMissing(): string | undefined {
  if (existsSync(chromiumPath)) return undefined;
  const reason = `The example's browser test needs Chromium at ${chromiumPath} (apt-get install -y chromium, or set TOLLGATE_TEST_CHROMIUM).`;
  if ((process.env.CI ?? "").toLowerCase() === "true") throw new Error(`CI=true and ${reason}`);
  return reason;
}

export const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
