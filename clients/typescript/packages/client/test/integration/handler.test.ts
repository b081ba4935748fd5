import { describe, expect, it } from "vitest";
import { createTollgateHandler } from "../../src/index.js";
import { newCustomerId, paySandbox, server, tollgate } from "./support.js";

const site = "http://app.test";

/** The app's handler, with "the session" a header only this test sets (an app reads its own cookie). */
function app() {
  const client = tollgate();
  const handle = createTollgateHandler({ tollgate: client, getCustomerId: (request) => request.headers.get("X-Test-Session") });
  const bodies: string[] = [];
  const call = async (customerId: string, method: string, path: string, body?: unknown) => {
    const response = await handle(
      new Request(`${site}/api/tollgate/${path}`, {
        method,
        headers: { "X-Test-Session": customerId, Origin: site, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
    const text = await response.text();
    bodies.push(text);
    return { status: response.status, body: JSON.parse(text) as Record<string, any> };
  };
  return { client, call, bodies };
}

describe("createTollgateHandler against a real Tollgate server", () => {
  it("TheSignedInCustomer_BuysAPackAndSeesTheirBalance_AndNeverAnotherCustomersData", async () => {
    const { client, call, bodies } = app();
    const alice = newCustomerId();
    const bob = newCustomerId();

    const products = await call(alice, "GET", "products");
    const checkout = await call(alice, "POST", "checkouts", { product: "new_user_pack", success_url: `${site}/thanks` });
    expect(checkout.status).toBe(201);
    expect(await paySandbox(checkout.body.url)).toBe(302);
    let status = "open";
    for (let i = 0; i < 200 && status === "open"; i++) {
      status = (await call(alice, "GET", `checkouts/${checkout.body.id}`)).body.status;
      if (status === "open") await new Promise((r) => setTimeout(r, 100));
    }
    const balances = await call(alice, "GET", "balances");
    const bobsView = await call(bob, "GET", `checkouts/${checkout.body.id}`);
    const bobsBalances = await call(bob, "GET", "balances");
    const capabilities = await call(alice, "GET", "capabilities");
    const portal = await call(alice, "POST", "portal");

    expect(products.body.packs.map((p: { id: string }) => p.id)).toContain("new_user_pack");
    expect(status).toBe("completed");
    expect(balances.body.customer_id).toBe(alice);
    expect(balances.body.balances.find((b: { feature: string }) => b.feature === "credits").available).toBe(60);
    expect(bobsView).toEqual({ status: 404, body: expect.objectContaining({ code: "checkout_not_found" }) });
    expect(bobsBalances.body.balances.find((b: { feature: string }) => b.feature === "credits").available).toBe(0);
    expect(capabilities.body).toMatchObject({ customer_id: alice, capabilities: expect.arrayContaining(["plan:free"]) });
    expect(portal.status).toBe(200);
    expect(portal.body.url).toMatch(/\/portal\?token=/);
    expect((await client.customers.get({ customerId: alice })).id).toBe(alice);
    for (const body of bodies) expect(body).not.toContain(server().secretKey);
  });

  it("EnsureAccess_ForSomethingNotOwned_AnswersACheckout_AndARefusalKeepsItsCode", async () => {
    const { call } = app();
    const carol = newCustomerId();

    const ensure = await call(carol, "POST", "access/ensure", { capability: "feature:hd_export", product: "pro" });
    const unknown = await call(carol, "POST", "access/ensure", { capability: "feature:hd_export", product: "gold_bars" });

    expect(ensure.status).toBe(200);
    expect(ensure.body).toMatchObject({ already_has_access: false, checkout_id: expect.stringMatching(/^chk_/) });
    expect(unknown).toEqual({ status: 404, body: expect.objectContaining({ code: "unknown_product" }) });
  });
});
