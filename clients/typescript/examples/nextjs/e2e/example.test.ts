import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { chromiumArgs, chromiumPath } from "./chromium.js";

const setup = inject("example");
const skip = "skip" in setup ? setup.skip : undefined;
const shots = join(dirname(fileURLToPath(import.meta.url)), "../../../test-results/example");

/** Waits (as a person would) for what the page shows to come true. */
const eventually = <T>(read: () => Promise<T> | T) => expect.poll(read, { timeout: 20_000, interval: 100 });

/** The Sandbox's hosted checkout page, paid with the test card, as a customer would. */
async function payOnSandbox(page: Page, tollgateUrl: string) {
  await page.waitForURL((url) => url.href.startsWith(`${tollgateUrl}/sandbox/checkout/`));
  await page.getByLabel(/card/i).fill("4242 4242 4242 4242");
  await page.getByRole("button", { name: /pay/i }).click();
}

describe.skipIf(skip !== undefined)(`the Next.js example in Chromium${skip ? ` (skipped: ${skip})` : ""}`, () => {
  const { appUrl, tollgateUrl, secretKey } = setup as { appUrl: string; tollgateUrl: string; secretKey: string };
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs, headless: true });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("SignIn_ChargeAMessage_BuyAPack_UnlockHdExport_OpenThePortal", async () => {
    const context = await browser.newContext({ baseURL: appUrl, viewport: { width: 1100, height: 900 } });
    context.setDefaultTimeout(20_000);
    const page = await context.newPage();
    const appBodies: string[] = [];
    page.on("response", async (response) => {
      if (response.url().startsWith(appUrl)) appBodies.push(await response.text().catch(() => ""));
    });
    const console: string[] = [];
    page.on("console", (message) => console.push(`${message.type()}: ${message.text()}`));
    page.on("pageerror", (error) => console.push(`pageerror: ${error.message}`));
    const user = `Erin ${Date.now()}`;
    try {

    // Sign in (the stub), land on the dashboard: gates closed, loading done.
    await page.goto("/");
    await page.getByLabel("Your name").fill(user);
    await page.getByRole("button", { name: "Sign in" }).click();
    await eventually(() => page.getByTestId("no-credits").isVisible()).toBe(true);
    expect(await page.getByRole("button", { name: "Unlock HD export with Pro" }).isVisible()).toBe(true);
    expect(await page.getByRole("button", { name: "Export in HD" }).count()).toBe(0);
    expect(await page.getByTestId("credits-open").count()).toBe(0);

    // An AI message is charged on the app's server: 50 a month on the free plan.
    await page.getByRole("button", { name: "Send an AI message" }).click();
    await eventually(() => page.getByTestId("ai-answer").textContent()).toBe("Echo: Hello (49 left)");
    await eventually(() => page.getByTestId("ai-left").textContent()).toBe("49 of 50 left this month");

    // Buy the new user pack in the Sandbox; back in the app the checkout is confirmed and the credits gate opens.
    await page.locator("[data-pack='new_user_pack']").getByRole("button", { name: "Buy New user pack" }).click();
    await payOnSandbox(page, tollgateUrl);
    await page.waitForURL((url) => url.href.startsWith(appUrl));
    await eventually(() => page.getByRole("status").filter({ hasText: "Payment received" }).textContent()).toBe(
      "Payment received: 60 credits added.",
    );
    await eventually(() => page.getByTestId("credits-open").textContent()).toContain("You have 60 credits.");
    expect(await page.locator("[data-pack='new_user_pack']").getByRole("button").textContent()).toBe("Bought");
    expect(new URL(page.url()).search).toBe("");
    await page.screenshot({ path: join(shots, "after-pack.png"), fullPage: true });

    // HD export: check → ensure → Sandbox checkout of Pro → back → confirmed → unlocked.
    await page.getByRole("button", { name: "Unlock HD export with Pro" }).click();
    await payOnSandbox(page, tollgateUrl);
    await page.waitForURL((url) => url.href.startsWith(appUrl));
    await page.getByRole("button", { name: "Export in HD" }).click();
    await eventually(() => page.getByText("Exported in 4K.").isVisible()).toBe(true);
    await eventually(() => page.getByTestId("capabilities").textContent()).toContain("plan:pro");
    await page.screenshot({ path: join(shots, "after-upgrade.png"), fullPage: true });

    // The billing portal: Tollgate's hosted page, through a signed link the app's server asked for.
    await page.getByRole("button", { name: "Billing portal" }).click();
    await page.waitForURL((url) => url.href.startsWith(`${tollgateUrl}/portal`));
    expect(await page.locator("#plan-title").isVisible()).toBe(true);

    // Nothing the app sent to the browser carries the secret key.
    expect(appBodies.length).toBeGreaterThan(5);
    for (const body of appBodies) expect(body).not.toContain(secretKey);
    } catch (error) {
      // What the page showed and said, for whoever reads a failed run.
      await page.screenshot({ path: join(shots, "failure.png"), fullPage: true }).catch(() => undefined);
      const text = await page.locator("body").innerText().catch(() => "(no page)");
      throw new Error(`${String(error)}\nat ${page.url()}\n--- page ---\n${text}\n--- console ---\n${console.join("\n")}`, { cause: error });
    } finally {
      await context.close();
    }
  });

  it("TheHandler_AnswersNobodyWhoIsNotSignedIn", async () => {
    const response = await fetch(`${appUrl}/api/tollgate/balances`);

    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ code: "unauthenticated" });
  });
});
