import { describe, expect, it } from "vitest";
import { isTollgateError, Tollgate, TollgateError } from "../../src/index.js";
import { lossyProxy, newCustomerId, paySandbox, server, settled, tollgate } from "./support.js";

async function aiMessages(client: Tollgate, customerId: string) {
  const { balances } = await client.customers.balances({ customerId });
  return balances.find((b) => b.feature === "ai_messages")!;
}

async function consumeEntries(client: Tollgate, customerId: string) {
  const { entries } = await client.customers.ledger({ customerId, feature: "ai_messages", limit: 200 });
  return entries.filter((e) => e.type === "consume");
}

describe("against a real Tollgate server", () => {
  it("CheckThenUsage_ChargesOnce_AndTheBooksAgree", async () => {
    const client = tollgate();
    const customerId = newCustomerId();
    await client.customers.upsert({ customerId, email: `${customerId}@example.com`, name: "Alice" });

    const check = await client.check({ customerId, feature: "ai_messages" });
    const used = await client.usage({ customerId, feature: "ai_messages", amount: 3, idempotencyKey: `msg-${customerId}` });
    const replay = await client.usage({ customerId, feature: "ai_messages", amount: 3, idempotencyKey: `msg-${customerId}` });

    expect(check).toMatchObject({ customer_id: customerId, feature: "ai_messages", allowed: true, balance: { available: 50, limit: 50, used: 0 } });
    expect(used).toMatchObject({ allowed: true, feature: "ai_messages", remaining: 47 });
    expect(replay).toEqual(used);
    expect(await aiMessages(client, customerId)).toMatchObject({ available: 47, used: 3 });
    expect(await consumeEntries(client, customerId)).toHaveLength(1);
    expect((await client.customers.get({ customerId })).email).toBe(`${customerId}@example.com`);
  });

  it("AnAnswerLostOnTheWay_IsRetriedWithTheSameKey_AndChargedOnce", async () => {
    // The first /v1/usage reaches the server and is applied; its answer is lost. The client must retry with the same
    // key, so the server replays instead of charging a second time.
    const proxy = await lossyProxy(server().url, (method, path, index) => method === "POST" && path === "/v1/usage" && index === 0);
    try {
      const client = new Tollgate({ baseUrl: proxy.url, secretKey: server().secretKey, retryDelayMs: 20 });
      const customerId = newCustomerId();

      const answer = await client.usage({ customerId, feature: "ai_messages", amount: 2 });

      expect(answer).toMatchObject({ allowed: true, remaining: 48 });
      expect(proxy.seen.map((s) => [s.dropped, s.status])).toEqual([
        [true, 200],
        [false, 200],
      ]);
      expect(proxy.seen[0]!.key).toBeDefined();
      expect(proxy.seen[1]!.key).toBe(proxy.seen[0]!.key);
      expect(await aiMessages(tollgate(), customerId)).toMatchObject({ available: 48, used: 2 });
      expect(await consumeEntries(tollgate(), customerId)).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });

  it("ParallelUsage_OnTheLastUnits_NeverOverspends", async () => {
    const client = tollgate();
    const customerId = newCustomerId();

    const results = await Promise.allSettled(
      Array.from({ length: 16 }, () => client.usage({ customerId, feature: "ai_messages", amount: 5 })),
    );

    const allowed = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason as TollgateError);
    expect(allowed).toHaveLength(10);
    expect(refused).toHaveLength(6);
    for (const error of refused) {
      expect(error).toBeInstanceOf(TollgateError);
      expect([error.status, error.code]).toEqual([402, "quota_exceeded"]);
    }
    expect(await aiMessages(client, customerId)).toMatchObject({ available: 0, used: 50 });
    expect(await consumeEntries(client, customerId)).toHaveLength(10);
  });

  it("TheSameKeyInParallel_IsOneEffect", async () => {
    const client = tollgate();
    const customerId = newCustomerId();
    const idempotencyKey = `job-${customerId}`;

    const answers = await Promise.all(
      Array.from({ length: 8 }, () => client.usage({ customerId, feature: "ai_messages", amount: 4, idempotencyKey })),
    );

    expect(new Set(answers.map((a) => a.entry_id)).size).toBe(1);
    expect(await aiMessages(client, customerId)).toMatchObject({ used: 4 });
    expect(await consumeEntries(client, customerId)).toHaveLength(1);
  });

  it("Refusals_ThrowTollgateError_WithTheServersStatusCodeAndDetail", async () => {
    const client = tollgate();
    const customerId = newCustomerId();

    const unknownFeature = await client.check({ customerId, feature: "teleportation" }).catch((e: unknown) => e);
    const missingField = await client.grants.create({ customerId, feature: "credits", amount: 5, reason: "" }).catch((e: unknown) => e);
    await client.usage({ customerId, feature: "ai_messages", amount: 1, idempotencyKey: `k-${customerId}` });
    const reused = await client.usage({ customerId, feature: "ai_messages", amount: 2, idempotencyKey: `k-${customerId}` }).catch((e: unknown) => e);
    const badKey = await new Tollgate({ baseUrl: server().url, secretKey: "tg_wrong_key_0123456789" })
      .customers.capabilities({ customerId })
      .catch((e: unknown) => e);
    const noCustomer = await client.customers.get({ customerId: newCustomerId() }).catch((e: unknown) => e);

    expect(unknownFeature).toMatchObject({ status: 404, code: "unknown_feature" });
    expect(missingField).toMatchObject({ status: 400, code: "invalid_request", detail: "reason must be 1–500 characters." });
    expect(reused).toMatchObject({ status: 422, code: "idempotency_key_reused" });
    expect(badKey).toMatchObject({ status: 401, code: "unauthorized" });
    expect(isTollgateError(noCustomer, "customer_not_found")).toBe(true);
  });

  it("HoldsAndGrants_MoveCreditsAndTheBalancesShowIt", async () => {
    const client = tollgate();
    const customerId = newCustomerId();

    const grant = await client.grants.create({ customerId, feature: "credits", amount: 30, reason: "welcome" });
    const hold = await client.holds.create({ customerId, feature: "credits", amount: 20, ttlSeconds: 600 });
    const settle = await client.holds.settle({ holdId: hold.id, amount: 12 });
    const second = await client.holds.create({ customerId, feature: "credits", amount: 5 });
    const release = await client.holds.release({ holdId: second.id });
    const again = await client.holds.release({ holdId: second.id }).catch((e: unknown) => e);
    const credits = (await client.customers.balances({ customerId })).balances.find((b) => b.feature === "credits")!;

    expect(grant).toMatchObject({ feature: "credits", amount: 30 });
    expect(hold).toMatchObject({ status: "active", amount: 20 });
    expect(settle).toMatchObject({ status: "settled", settled: 12, released: 8 });
    expect(release).toMatchObject({ status: "released" });
    expect(again).toMatchObject({ status: 409, code: "hold_not_active" });
    expect(credits).toMatchObject({ available: 18, held: 0 });
  });

  it("ASandboxCheckout_GrantsOnlyOnceItsWebhookIsApplied", async () => {
    const client = tollgate();
    const customerId = newCustomerId();
    await client.customers.upsert({ customerId });

    const products = await client.products.list({ customerId });
    const checkout = await client.checkouts.create({ customerId, product: "new_user_pack" });
    const before = (await client.customers.balances({ customerId })).balances.find((b) => b.feature === "credits")!;
    expect(await paySandbox(checkout.url)).toBe(302);
    const done = await settled(client, checkout.id);
    const after = (await client.customers.balances({ customerId })).balances.find((b) => b.feature === "credits")!;
    const twice = await client.checkouts.create({ customerId, product: "new_user_pack" }).catch((e: unknown) => e);

    expect(products.packs.find((p) => p.id === "new_user_pack")).toMatchObject({ credits: 60, eligible: true, price: { amount: 100, currency: "USD" } });
    expect(checkout).toMatchObject({ status: "open", provider: "sandbox", customer_id: customerId, product: "new_user_pack" });
    expect(before.available).toBe(0);
    expect(done).toMatchObject({ status: "completed", granted: { credits: 60 } });
    expect(after.available).toBe(60);
    expect(twice).toMatchObject({ status: 409, code: "not_eligible" });
  });

  it("EnsureAccess_GivesACheckoutUntilTheCapabilityIsBought", async () => {
    const client = tollgate();
    const customerId = newCustomerId();
    await client.customers.upsert({ customerId });

    const first = await client.access.ensure({ customerId, capability: "feature:hd_export", product: "pro" });
    expect(first.already_has_access).toBe(false);
    expect(await paySandbox(first.checkout_url!)).toBe(302);
    await settled(client, first.checkout_id!);
    const second = await client.access.ensure({ customerId, capability: "feature:hd_export", product: "pro" });
    const { capabilities } = await client.customers.capabilities({ customerId });
    const portal = await client.customers.portal({ customerId });
    const subscriptions = await client.customers.subscriptions({ customerId });

    expect(second).toEqual({ already_has_access: true });
    expect(capabilities).toEqual(expect.arrayContaining(["plan:pro", "feature:hd_export"]));
    expect(portal.url).toMatch(/\/portal\?token=/);
    expect(subscriptions.subscriptions).toMatchObject([{ plan: "pro", provider: "sandbox", status: "active" }]);
  });

  it("AnOrganization_ChargesItsMembersUsage_ListsThemByPage_AndOneLeaves", async () => {
    const client = tollgate();
    const org = newCustomerId();
    const [first, second] = [`${org}-m1`, `${org}-m2`];
    await client.customers.upsert({ customerId: org, name: "Org" });

    const joined = await client.customers.upsert({ customerId: first, billingCustomerId: org });
    await client.customers.upsert({ customerId: second, billingCustomerId: org });
    const renamed = await client.customers.upsert({ customerId: first, name: "M1" }); // billingCustomerId left out: kept
    const used = await client.usage({ customerId: first, feature: "ai_messages", amount: 2 });
    const all = await client.customers.members({ customerId: org });
    const page = await client.customers.members({ customerId: org, limit: 1 });
    const next = await client.customers.members({ customerId: org, limit: 1, after: page.next });
    const left = await client.customers.upsert({ customerId: first, billingCustomerId: null });
    const remaining = await client.customers.members({ customerId: org });

    expect(joined.billing_customer_id).toBe(org);
    expect(renamed).toMatchObject({ name: "M1", billing_customer_id: org });
    expect(used).toMatchObject({ allowed: true, remaining: 48 });
    expect(await aiMessages(client, org)).toMatchObject({ available: 48, used: 2 }); // charged on the organization
    expect(all.members.map((m) => m.id)).toEqual([first, second]);
    expect([page.members.map((m) => m.id), page.next]).toEqual([[first], first]);
    expect([next.members.map((m) => m.id), next.next]).toEqual([[second], undefined]);
    expect(left.billing_customer_id).toBeUndefined();
    expect(remaining.members.map((m) => m.id)).toEqual([second]);
    await expect(client.customers.members({ customerId: `${org}-none` })).rejects.toMatchObject({ status: 404, code: "customer_not_found" });
    await expect(client.customers.upsert({ customerId: `${org}-m3`, billingCustomerId: `${org}-none` })).rejects.toMatchObject({
      status: 404,
      code: "customer_not_found",
    });
    await expect(client.customers.members({ customerId: org, limit: 0 })).rejects.toMatchObject({ status: 400, code: "invalid_request" });
  });

  it("AUsageReversed_PutsBackWhatItTook_OnceAndReplaysWithItsKey", async () => {
    const client = tollgate();
    const customerId = newCustomerId();
    await client.grants.create({ customerId, feature: "credits", amount: 20, reason: "welcome" });
    const used = await client.usage({ customerId, feature: "credits", amount: 4 });
    const key = `undo-${customerId}`;

    const reversed = await client.reverseUsage({ entryId: used.entry_id!, idempotencyKey: key });
    const replay = await client.reverseUsage({ entryId: used.entry_id!, idempotencyKey: key });

    expect(reversed).toMatchObject({ entry_id: used.entry_id, restored: 4, expired: 0, clawed: 0 });
    expect(reversed.draws.map((d) => d.amount)).toEqual([4]);
    expect(replay).toEqual(reversed);
    const { balances } = await client.customers.balances({ customerId });
    expect(balances.find((b) => b.feature === "credits")).toMatchObject({ available: 20 });
    await expect(client.reverseUsage({ entryId: used.entry_id! })).rejects.toMatchObject({ status: 409, code: "already_reversed" });
  });

  it("ATrial_OfAPlanWithoutTrialDays_IsRefused_AndAnUnknownPlanIsNotFound", async () => {
    // The demo catalog the test server runs has no plan with trial_days; a trial that starts is tested in .NET
    // (SameResultsTests, in process and through the client, against a catalog with one).
    const client = tollgate();
    const customerId = newCustomerId();

    await expect(client.customers.startTrial({ customerId, plan: "pro" })).rejects.toMatchObject({ status: 409, code: "not_eligible" });
    await expect(client.customers.startTrial({ customerId, plan: "platinum" })).rejects.toMatchObject({ status: 404, code: "unknown_product" });
    await expect(client.customers.startTrial({ customerId, plan: "" })).rejects.toMatchObject({ status: 400, code: "invalid_request" });
    expect((await client.customers.subscriptions({ customerId })).subscriptions).toEqual([]);
  });
});
