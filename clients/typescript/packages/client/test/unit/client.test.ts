import { describe, expect, expectTypeOf, it } from "vitest";
import { isTollgateError, type ProblemCode, Tollgate, TollgateError } from "../../src/index.js";
import { fakeFetch, ok, problem } from "./fake-fetch.js";

const usageAnswer = { allowed: true, feature: "ai_messages", remaining: 49, entry_id: "ent_1" };

function client(fetch: typeof globalThis.fetch, extra: Partial<ConstructorParameters<typeof Tollgate>[0]> = {}) {
  return new Tollgate({ baseUrl: "http://tollgate.test/", secretKey: "tg_secret", fetch, retryDelayMs: 1, ...extra });
}

describe("idempotency keys", () => {
  it("Usage_WithoutAKey_GeneratesOneAndReusesItOnEveryRetry", async () => {
    const fake = fakeFetch(new TypeError("fetch failed"), problem(503, "unavailable"), ok(usageAnswer));

    const answer = await client(fake.fetch).usage({ customerId: "alice", feature: "ai_messages", amount: 1 });

    expect(answer).toEqual(usageAnswer);
    expect(fake.calls).toHaveLength(3);
    const keys = fake.calls.map((c) => c.headers.get("Idempotency-Key"));
    expect(keys[0]).toMatch(/^tgc_[0-9a-f-]{36}$/);
    expect(new Set(keys).size).toBe(1);
  });

  it("Usage_TwoCalls_GetTwoDifferentKeys", async () => {
    const fake = fakeFetch(ok(usageAnswer), ok(usageAnswer));
    const tollgate = client(fake.fetch);

    await tollgate.usage({ customerId: "alice", feature: "ai_messages", amount: 1 });
    await tollgate.usage({ customerId: "alice", feature: "ai_messages", amount: 1 });

    expect(fake.calls[0]!.headers.get("Idempotency-Key")).not.toBe(fake.calls[1]!.headers.get("Idempotency-Key"));
  });

  it("Usage_WithTheAppsKey_SendsThatKey", async () => {
    const fake = fakeFetch(ok(usageAnswer));

    await client(fake.fetch).usage({ customerId: "alice", feature: "ai_messages", amount: 1, idempotencyKey: "msg-42" });

    expect(fake.calls[0]!.headers.get("Idempotency-Key")).toBe("msg-42");
    expect(JSON.parse(fake.calls[0]!.body!)).toEqual({ customer_id: "alice", feature: "ai_messages", amount: 1 });
  });

  it("HoldsAndGrants_CarryAKey_ChecksAndCheckoutsDoNot", async () => {
    const fake = fakeFetch(ok({}, 201), ok({}, 201), ok({}), ok({}, 201));
    const tollgate = client(fake.fetch);

    await tollgate.holds.create({ customerId: "alice", feature: "video_jobs", amount: 1 });
    await tollgate.grants.create({ customerId: "alice", feature: "credits", amount: 5, reason: "sorry" });
    await tollgate.check({ customerId: "alice", feature: "ai_messages" });
    await tollgate.checkouts.create({ customerId: "alice", product: "new_user_pack" });

    expect(fake.calls.map((c) => c.headers.has("Idempotency-Key"))).toEqual([true, true, false, false]);
  });
});

describe("retries", () => {
  it("NetworkErrorsAnd5xx_AreRetried_UpToMaxRetries_ThenThrown", async () => {
    const fake = fakeFetch(new TypeError("fetch failed"), problem(500, "internal_error"), problem(502, "bad_gateway"));

    const error = await client(fake.fetch, { maxRetries: 2 })
      .check({ customerId: "alice", feature: "ai_messages" })
      .catch((e: unknown) => e);

    expect(fake.calls).toHaveLength(3);
    expect(error).toBeInstanceOf(TollgateError);
    expect(error).toMatchObject({ status: 502, code: "bad_gateway" });
  });

  it("Refusals_AreNotRetried", async () => {
    const fake = fakeFetch(problem(402, "quota_exceeded", "The allowance of 50 is used up."), ok(usageAnswer));

    const error = await client(fake.fetch)
      .usage({ customerId: "alice", feature: "ai_messages", amount: 1 })
      .catch((e: unknown) => e);

    expect(fake.calls).toHaveLength(1);
    expect(isTollgateError(error, "quota_exceeded")).toBe(true);
  });

  it("CallsUnsafeToRepeat_AreNotRetried", async () => {
    const fake = fakeFetch(problem(502, "provider_error"), ok({}));

    await expect(client(fake.fetch).checkouts.create({ customerId: "alice", product: "pro" })).rejects.toMatchObject({
      status: 502,
      code: "provider_error",
    });
    expect(fake.calls).toHaveLength(1);
  });

  it("NetworkFailure_AfterAllRetries_IsANetworkError", async () => {
    const cause = new TypeError("fetch failed");
    const fake = fakeFetch(cause, cause);

    const error = (await client(fake.fetch, { maxRetries: 1 })
      .customers.balances({ customerId: "alice" })
      .catch((e: unknown) => e)) as TollgateError;

    expect(error).toBeInstanceOf(TollgateError);
    expect(error.status).toBe(0);
    expect(error.code).toBe("network_error");
    expect(error.cause).toBe(cause);
  });
});

describe("timeouts and abort signals", () => {
  it("AnAttemptOverTimeoutMs_TimesOut_AndIsRetriedWithTheSameKey", async () => {
    const fake = fakeFetch("hang", ok(usageAnswer));

    const answer = await client(fake.fetch, { timeoutMs: 20 }).usage({ customerId: "alice", feature: "ai_messages", amount: 1 });

    expect(answer).toEqual(usageAnswer);
    expect(fake.calls).toHaveLength(2);
    expect(fake.calls[0]!.headers.get("Idempotency-Key")).toBe(fake.calls[1]!.headers.get("Idempotency-Key"));
  });

  it("EveryAttemptTimingOut_ThrowsTimeout", async () => {
    const fake = fakeFetch("hang", "hang");

    await expect(client(fake.fetch, { maxRetries: 1 }).check({ customerId: "a", feature: "f" }, { timeoutMs: 10 })).rejects.toMatchObject({
      status: 0,
      code: "timeout",
    });
    expect(fake.calls).toHaveLength(2);
  });

  it("TheCallersSignal_AbortsTheCall_WithItsReason_AndNothingIsRetried", async () => {
    const fake = fakeFetch("hang", ok(usageAnswer));
    const controller = new AbortController();
    const reason = new Error("the user left");

    const pending = client(fake.fetch).usage({ customerId: "alice", feature: "ai_messages", amount: 1 }, { signal: controller.signal });
    setTimeout(() => controller.abort(reason), 10);

    await expect(pending).rejects.toBe(reason);
    expect(fake.calls).toHaveLength(1);
  });

  it("AnAlreadyAbortedSignal_SendsNothing", async () => {
    const fake = fakeFetch(ok(usageAnswer));

    await expect(client(fake.fetch).check({ customerId: "a", feature: "f" }, { signal: AbortSignal.abort() })).rejects.toBeDefined();
    expect(fake.calls).toHaveLength(0);
  });
});

describe("error mapping", () => {
  it("AProblemBody_GivesStatusCodeAndDetail", async () => {
    const fake = fakeFetch(problem(404, "customer_not_found", "No customer 'bob'."));

    const error = (await client(fake.fetch)
      .customers.get({ customerId: "bob" })
      .catch((e: unknown) => e)) as TollgateError;

    expect(error).toBeInstanceOf(TollgateError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("TollgateError");
    expect([error.status, error.code, error.detail]).toEqual([404, "customer_not_found", "No customer 'bob'."]);
    expect(error.problem?.title).toBe("title of customer_not_found");
    expect(error.message).toContain("customer_not_found");
  });

  it("ANonProblemBody_IsAnUnexpectedResponse_WithTheStatus", async () => {
    const fake = fakeFetch(new Response("<html>Bad gateway</html>", { status: 404 }));

    await expect(client(fake.fetch).checkouts.get({ checkoutId: "chk_1" })).rejects.toMatchObject({
      status: 404,
      code: "unexpected_response",
      detail: "<html>Bad gateway</html>",
    });
  });

  it("ASuccessThatIsNotJson_IsAnUnexpectedResponse", async () => {
    const fake = fakeFetch(new Response("not json", { status: 200 }));

    await expect(client(fake.fetch).products.list()).rejects.toMatchObject({ status: 200, code: "unexpected_response" });
  });

  it("ProblemCodes_AreTheServerDocumentsCodes", () => {
    expectTypeOf<"quota_exceeded">().toExtend<ProblemCode>();
    expectTypeOf<"idempotency_key_reused">().toExtend<ProblemCode>();
    expectTypeOf<"no_such_code">().not.toExtend<ProblemCode>();
  });
});

describe("requests", () => {
  it("SendsTheKeyAsBearer_JsonBodies_AndEncodesIds", async () => {
    const fake = fakeFetch(ok({}), ok({}), ok({}));
    const tollgate = client(fake.fetch);

    await tollgate.customers.upsert({ customerId: "team:acme@x", email: "a@x.io" });
    await tollgate.customers.ledger({ customerId: "alice", feature: "credits", limit: 10 });
    await tollgate.holds.settle({ holdId: "hold/1" });

    expect(fake.calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      "PUT http://tollgate.test/v1/customers/team%3Aacme%40x",
      "GET http://tollgate.test/v1/customers/alice/ledger?feature=credits&limit=10",
      "POST http://tollgate.test/v1/holds/hold%2F1/settle",
    ]);
    expect(fake.calls[0]!.headers.get("Authorization")).toBe("Bearer tg_secret");
    expect(fake.calls[0]!.headers.get("Content-Type")).toBe("application/json");
    expect(JSON.parse(fake.calls[0]!.body!)).toEqual({ email: "a@x.io" });
    expect(fake.calls[1]!.body).toBeUndefined();
  });

  it("RefusesToBeBuiltWithoutAKey", () => {
    expect(() => new Tollgate({ baseUrl: "http://x", secretKey: "" })).toThrow(/secretKey/);
  });
});
