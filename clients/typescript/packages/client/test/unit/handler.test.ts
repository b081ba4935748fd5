import { describe, expect, it } from "vitest";
import { createTollgateHandler, Tollgate } from "../../src/index.js";
import { fakeFetch, ok, problem, type Step } from "./fake-fetch.js";

const site = "https://app.example";

function handler(steps: Step[], customerId: string | null = "alice") {
  const fake = fakeFetch(...steps);
  const tollgate = new Tollgate({ baseUrl: "http://tollgate.internal", secretKey: "tg_very_secret", fetch: fake.fetch, retryDelayMs: 1, maxRetries: 0 });
  return { fake, handle: createTollgateHandler({ tollgate, getCustomerId: () => customerId }) };
}

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return new Request(`${site}/api/tollgate/${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Origin: site, ...headers },
    body: JSON.stringify(body),
  });
}

describe("createTollgateHandler", () => {
  it("Capabilities_AreTheSignedInCustomers_WhateverTheRequestSays", async () => {
    const { fake, handle } = handler([ok({ customer_id: "alice", capabilities: ["plan:free"] })]);

    const response = await handle(new Request(`${site}/api/tollgate/capabilities?customer_id=mallory`, { headers: { "X-Customer-Id": "mallory" } }));

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ customer_id: "alice", capabilities: ["plan:free"] });
    expect(fake.calls.map((c) => c.url)).toEqual(["http://tollgate.internal/v1/customers/alice/capabilities"]);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
  });

  it("ACheckoutBody_NamingAnotherCustomer_StillBuysForTheSignedInOne", async () => {
    const { fake, handle } = handler([ok({ id: "chk_1", url: "http://tollgate.internal/sandbox/checkout/s", status: "open" }, 201)]);

    const response = await handle(post("checkouts", { product: "new_user_pack", customer_id: "mallory", customerId: "mallory" }));

    expect(response.status).toBe(201);
    expect(JSON.parse(fake.calls[0]!.body!)).toEqual({ customer_id: "alice", product: "new_user_pack" });
  });

  it("NobodySignedIn_Is401_AndTollgateIsNotCalled", async () => {
    const { fake, handle } = handler([], null);

    const response = await handle(new Request(`${site}/api/tollgate/balances`));

    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ status: 401, code: "unauthenticated" });
    expect(fake.calls).toHaveLength(0);
  });

  it("AnotherCustomersCheckout_IsNotFound", async () => {
    const { handle } = handler([ok({ id: "chk_9", customer_id: "bob", status: "completed", url: "u" })]);

    const response = await handle(new Request(`${site}/api/tollgate/checkouts/chk_9`));

    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: "checkout_not_found" });
  });

  it("TheCustomersOwnCheckout_IsAnswered", async () => {
    const checkout = { id: "chk_9", customer_id: "alice", status: "completed", url: "u" };
    const { fake, handle } = handler([ok(checkout)]);

    const response = await handle(new Request(`${site}/api/tollgate/checkouts/chk_9`));

    expect(await response.json()).toEqual(checkout);
    expect(fake.calls[0]!.url).toBe("http://tollgate.internal/v1/checkouts/chk_9");
  });

  it("EnsureAccess_PassesCapabilityProductAndASameSiteReturnAddress", async () => {
    const { fake, handle } = handler([ok({ already_has_access: false, checkout_id: "chk_1", checkout_url: "u" })]);

    const response = await handle(post("access/ensure", { capability: "feature:hd_export", product: "pro", success_url: "/export?x=1" }));

    expect(response.status).toBe(200);
    expect(JSON.parse(fake.calls[0]!.body!)).toEqual({
      customer_id: "alice",
      capability: "feature:hd_export",
      product: "pro",
      success_url: `${site}/export?x=1`,
    });
  });

  it("AReturnAddressOnAnotherSite_IsRefused", async () => {
    const { fake, handle } = handler([]);

    const response = await handle(post("checkouts", { product: "pro", success_url: "https://evil.example/phish" }));

    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "invalid_request" });
    expect(fake.calls).toHaveLength(0);
  });

  it("AWriteFromAnotherOrigin_IsRefused", async () => {
    const { fake, handle } = handler([]);

    const response = await handle(post("portal", {}, { Origin: "https://evil.example" }));

    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: "cross_origin" });
    expect(fake.calls).toHaveLength(0);
  });

  it("TheHostTheBrowserUsed_CountsAsThisSite_WhenTheFrameworksUrlSaysOtherwise", async () => {
    // `next start --hostname 127.0.0.1` hands route handlers http://localhost:… URLs; the browser is on 127.0.0.1.
    const { fake, handle } = handler([ok({ id: "chk_1", url: "u", status: "open" }, 201)]);
    const request = new Request("http://localhost:3000/api/tollgate/checkouts", {
      method: "POST",
      headers: { "Content-Type": "application/json", Origin: "http://127.0.0.1:3000", Host: "127.0.0.1:3000" },
      body: JSON.stringify({ product: "pro", success_url: "http://127.0.0.1:3000/?tollgate_checkout=success" }),
    });

    const response = await handle(request);

    expect(response.status).toBe(201);
    expect(JSON.parse(fake.calls[0]!.body!)).toMatchObject({ success_url: "http://127.0.0.1:3000/?tollgate_checkout=success" });
  });

  it("BadInput_GetsAClearProblem_AndTollgateIsNotCalled", async () => {
    const { fake, handle } = handler([]);

    const notJson = await handle(
      new Request(`${site}/api/tollgate/checkouts`, { method: "POST", body: "product=pro", headers: { "Content-Type": "text/plain" } }),
    );
    const malformed = await handle(
      new Request(`${site}/api/tollgate/checkouts`, { method: "POST", body: "{", headers: { "Content-Type": "application/json" } }),
    );
    const missing = await handle(post("access/ensure", { product: "pro" }));
    const unknown = await handle(new Request(`${site}/api/tollgate/secret-key`));
    const inherited = await handle(new Request(`${site}/api/tollgate/constructor`));
    const method = await handle(new Request(`${site}/api/tollgate/balances`, { method: "DELETE" }));
    const badPath = await handle(new Request(`${site}/api/tollgate/checkouts/%E0%A4%A`));
    const huge = await handle(post("checkouts", { product: "x".repeat(20_000) }, { "Content-Length": "20020" }));

    expect([notJson.status, malformed.status, missing.status, unknown.status, inherited.status, method.status, badPath.status, huge.status]).toEqual([
      415, 400, 400, 404, 404, 405, 400, 413,
    ]);
    expect(await missing.json()).toMatchObject({ code: "invalid_request", detail: "capability is required." });
    expect(method.headers.get("Allow")).toBe("GET");
    expect(fake.calls).toHaveLength(0);
  });

  it("TollgateRefusals_PassThrough_WithTheirCode", async () => {
    const { handle } = handler([problem(409, "not_eligible", "The new user pack is once per customer.")]);

    const response = await handle(post("checkouts", { product: "new_user_pack" }));

    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({ code: "not_eligible", detail: "The new user pack is once per customer." });
  });

  it("TollgateDownOrMisconfigured_Is502_WithoutItsDetails", async () => {
    for (const step of [problem(500, "internal_error", "stack trace here"), problem(401, "unauthorized"), new TypeError("ECONNREFUSED 10.0.0.5")]) {
      const { handle } = handler([step]);

      const response = await handle(new Request(`${site}/api/tollgate/balances`));
      const text = await response.text();

      expect(response.status).toBe(502);
      expect(JSON.parse(text)).toMatchObject({ code: "tollgate_unavailable" });
      expect(text).not.toMatch(/stack trace|ECONNREFUSED|tollgate\.internal|tg_very_secret/);
    }
  });

  it("Portal_ForACustomerTollgateHasNotSeen_CreatesThemFirst", async () => {
    const { fake, handle } = handler([
      problem(404, "customer_not_found"),
      ok({ id: "alice" }),
      ok({ url: "http://tollgate.internal/portal?token=t", expires_at: "2030-01-01T00:00:00Z" }),
    ]);

    const response = await handle(post("portal", {}));

    expect(response.status).toBe(200);
    expect((await response.json()) as unknown).toMatchObject({ url: "http://tollgate.internal/portal?token=t" });
    expect(fake.calls.map((c) => `${c.method} ${c.url.replace("http://tollgate.internal", "")} ${c.body ?? ""}`)).toEqual([
      "POST /v1/customers/alice/portal ",
      "PUT /v1/customers/alice {}",
      "POST /v1/customers/alice/portal ",
    ]);
  });
});
