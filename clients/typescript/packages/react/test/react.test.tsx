import { act, cleanup, render, renderHook, screen, waitFor } from "@testing-library/react";
import type { ReactNode } from "react";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FeatureGate, TollgateProvider, useAccessAndCheckout, useCheckout, useCustomer, useFeature, useProducts } from "../src/index.js";

/** The app's handler as the browser sees it: routes answered from the test's own state. */
function fakeApp(state: { capabilities: string[]; balances?: unknown[]; checkouts?: Record<string, string[]> }) {
  const calls: { method: string; path: string; body?: unknown }[] = [];
  let gate: Promise<void> = Promise.resolve();
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const path = String(input).replace("/api/tollgate/", "");
    const method = init?.method ?? "GET";
    calls.push({ method, path, body: init?.body ? JSON.parse(String(init.body)) : undefined });
    await gate;
    // As a browser's fetch does: an aborted request never answers.
    init?.signal?.throwIfAborted();
    const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
    if (state.capabilities === undefined) return json({ code: "tollgate_unavailable", status: 502, title: "down" }, 502);
    if (path === "capabilities") return json({ customer_id: "alice", capabilities: state.capabilities });
    if (path === "balances") return json({ customer_id: "alice", balances: state.balances ?? [] });
    if (path === "access/ensure") {
      return state.capabilities.includes((calls.at(-1)!.body as { capability: string }).capability)
        ? json({ already_has_access: true })
        : json({ already_has_access: false, checkout_id: "chk_1", checkout_url: "https://pay.example/checkout/s1" });
    }
    if (path === "checkouts" && method === "POST") return json({ id: "chk_2", url: "https://pay.example/checkout/s2", status: "open" }, 201);
    if (path === "products") return json({ provider: "sandbox", plans: [], packs: [{ id: "new_user_pack", name: "New user pack", credits: 60, once_per_customer: true }] });
    if (path === "portal") return json({ url: "https://tollgate.example/portal?token=t", expires_at: "2030-01-01T00:00:00Z" });
    if (path.startsWith("checkouts/")) {
      const id = path.slice("checkouts/".length);
      const statuses = state.checkouts![id]!;
      const status = statuses.length > 1 ? statuses.shift()! : statuses[0]!;
      if (status === "completed" && id === "chk_1") state.capabilities = [...state.capabilities, "feature:hd_export"];
      if (status === "completed" && id === "chk_2") state.balances = [{ feature: "credits", type: "credits", available: 60, held: 0, debt: 0, lots: [] }];
      return json({ id, status, customer_id: "alice", product: "pro", url: "u", ...(status === "failed" ? { failure: "card_declined" } : {}) });
    }
    return json({ code: "not_found" }, 404);
  }) as typeof globalThis.fetch;
  return {
    fetch,
    calls,
    state,
    hold() {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return release;
    },
  };
}

function memoryStorage() {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (k: string) => map.get(k) ?? null,
    setItem: (k: string, v: string) => void map.set(k, v),
    removeItem: (k: string) => void map.delete(k),
  };
}

function wrapper(app: ReturnType<typeof fakeApp>, extra: { navigate?: (url: string) => void; storage?: ReturnType<typeof memoryStorage> } = {}) {
  return ({ children }: { children: ReactNode }) => (
    <TollgateProvider fetch={app.fetch} navigate={extra.navigate} storage={extra.storage} pollIntervalMs={5} confirmTimeoutMs={2_000}>
      {children}
    </TollgateProvider>
  );
}

beforeEach(() => window.history.replaceState(null, "", "/export"));
afterEach(cleanup);

describe("<FeatureGate>", () => {
  it("ShowsNothingPaid_WhileLoading_ThenTheContent_WhenThePlanHasIt", async () => {
    const app = fakeApp({ capabilities: ["plan:pro", "feature:hd_export"] });
    const release = app.hold();
    const Wrapper = wrapper(app);

    render(
      <Wrapper>
        <FeatureGate feature="hd_export" fallback={<p>Upgrade to export in HD</p>} loading={<p>Checking…</p>}>
          <button type="button">Export in HD</button>
        </FeatureGate>
      </Wrapper>,
    );

    expect(screen.getByText("Checking…")).toBeTruthy();
    expect(screen.queryByText("Export in HD")).toBeNull();
    expect(screen.queryByText("Upgrade to export in HD")).toBeNull();
    release();
    expect(await screen.findByText("Export in HD")).toBeTruthy();
    expect(screen.queryByText("Checking…")).toBeNull();
  });

  it("ShowsTheFallback_WithoutTheFeature_AndWhenAccessCannotBeRead", async () => {
    for (const capabilities of [["plan:free"], undefined]) {
      const app = fakeApp({ capabilities: capabilities as string[] });
      const Wrapper = wrapper(app);

      render(
        <Wrapper>
          <FeatureGate feature="hd_export" fallback={<p>Upgrade</p>}>
            <p>Paid</p>
          </FeatureGate>
        </Wrapper>,
      );

      expect(await screen.findByText("Upgrade")).toBeTruthy();
      expect(screen.queryByText("Paid")).toBeNull();
      cleanup();
    }
  });
});

describe("useFeature and useCustomer", () => {
  it("AFeatureWithNothingLeft_IsNotAllowed_EvenOnThePlan", async () => {
    const app = fakeApp({
      capabilities: ["plan:free", "feature:ai_messages", "feature:projects"],
      balances: [
        { feature: "ai_messages", type: "metered", available: 0, held: 0, debt: 0, limit: 50, used: 50, lots: [] },
        { feature: "projects", type: "count", available: 1, held: 0, debt: 0, limit: 1, used: 0, lots: [] },
      ],
    });

    const { result } = renderHook(() => ({ ai: useFeature("ai_messages"), projects: useFeature("projects"), export: useFeature("hd_export") }), {
      wrapper: wrapper(app),
    });

    expect(result.current.ai.allowed).toBeUndefined();
    await waitFor(() => expect(result.current.ai.isLoading).toBe(false));
    expect([result.current.ai.allowed, result.current.projects.allowed, result.current.export.allowed]).toEqual([false, true, false]);
    expect(result.current.ai.balance).toMatchObject({ used: 50, limit: 50 });
  });

  it("Credits_AreUsableWithoutAPlan_WhileSomeAreLeft_AndSpillForAUsedUpAllowance", async () => {
    const app = fakeApp({
      capabilities: ["plan:free", "feature:ai_messages"],
      balances: [
        { feature: "credits", type: "credits", available: 60, held: 0, debt: 0, lots: [] },
        { feature: "ai_messages", type: "metered", available: 0, held: 0, debt: 0, limit: 50, used: 50, lots: [] },
      ],
    });

    const { result } = renderHook(() => [useFeature("credits").allowed, useFeature("ai_messages").allowed], { wrapper: wrapper(app) });

    await waitFor(() => expect(result.current).toEqual([true, true]));
  });

  it("OpenPortal_SendsTheBrowserToThePortalLink", async () => {
    const app = fakeApp({ capabilities: ["plan:free"] });
    const visited: string[] = [];

    const { result } = renderHook(() => useCustomer(), { wrapper: wrapper(app, { navigate: (url) => visited.push(url) }) });
    await waitFor(() => expect(result.current.status).toBe("ready"));
    await act(() => result.current.openPortal());

    expect(result.current.has("plan:free")).toBe(true);
    expect(visited).toEqual(["https://tollgate.example/portal?token=t"]);
    expect(app.calls.at(-1)).toMatchObject({ method: "POST", path: "portal" });
  });
});

describe("useCheckout and useProducts", () => {
  it("BuyingAPack_LeavesForTheCheckout_AndBackHere_ConfirmsItAndShowsTheCredits", async () => {
    const app = fakeApp({ capabilities: ["plan:free"], checkouts: { chk_2: ["open", "completed"] } });
    const storage = memoryStorage();
    const visited: string[] = [];
    const first = renderHook(() => ({ checkout: useCheckout(), products: useProducts() }), {
      wrapper: wrapper(app, { navigate: (url) => visited.push(url), storage }),
    });
    await waitFor(() => expect(first.result.current.products.products?.packs[0]?.id).toBe("new_user_pack"));

    await act(() => first.result.current.checkout.buy("new_user_pack"));
    first.unmount();
    expect(visited).toEqual(["https://pay.example/checkout/s2"]);
    expect(app.calls.find((c) => c.path === "checkouts")?.body).toEqual({
      product: "new_user_pack",
      success_url: `${window.location.origin}/export?tollgate_checkout=success`,
      cancel_url: `${window.location.origin}/export?tollgate_checkout=cancel`,
    });

    // The provider sends the browser back; a new page load.
    window.history.replaceState(null, "", "/export?tollgate_checkout=success");
    const back = renderHook(() => ({ checkout: useCheckout(), credits: useFeature("credits") }), { wrapper: wrapper(app, { storage }) });

    await waitFor(() => expect(back.result.current.credits.allowed).toBe(true));
    expect(back.result.current.checkout).toMatchObject({ status: "idle", checkout: { id: "chk_2", status: "completed" } });
    expect(back.result.current.credits.balance?.available).toBe(60);
    expect(storage.map.size).toBe(0);
  });

  it("ACancelledCheckout_IsForgotten_WithoutPolling", async () => {
    window.history.replaceState(null, "", "/export?tollgate_checkout=cancel");
    const app = fakeApp({ capabilities: ["plan:free"], checkouts: { chk_2: ["open"] } });
    const storage = memoryStorage();
    storage.setItem("tollgate:checkout:purchase", JSON.stringify({ checkoutId: "chk_2" }));

    const { result } = renderHook(() => useCheckout(), { wrapper: wrapper(app, { storage }) });

    await waitFor(() => expect(storage.map.size).toBe(0));
    expect(result.current.status).toBe("idle");
    expect(window.location.search).toBe("");
    expect(app.calls.some((c) => c.path.startsWith("checkouts/"))).toBe(false);
  });
});

describe("useAccessAndCheckout", () => {
  it("WithoutAccess_EnsuresAndRedirectsToTheCheckout_RememberingIt", async () => {
    const app = fakeApp({ capabilities: ["plan:free"] });
    const storage = memoryStorage();
    const visited: string[] = [];

    const { result } = renderHook(() => useAccessAndCheckout({ capability: "feature:hd_export", product: "pro" }), {
      wrapper: wrapper(app, { navigate: (url) => visited.push(url), storage }),
    });
    await waitFor(() => expect(result.current.status).toBe("ready"));
    expect(result.current.hasAccess).toBe(false);
    await act(() => result.current.startCheckout());

    expect(app.calls.find((c) => c.path === "access/ensure")?.body).toEqual({
      capability: "feature:hd_export",
      product: "pro",
      success_url: `${window.location.origin}/export?tollgate_checkout=success`,
    });
    expect(visited).toEqual(["https://pay.example/checkout/s1"]);
    expect(JSON.parse(storage.map.get("tollgate:checkout:feature:hd_export")!)).toEqual({ checkoutId: "chk_1" });
    expect(result.current.status).toBe("redirecting");
  });

  it.each([false, true])("BackFromTheCheckout_PollsUntilTheWebhookIsApplied_ThenHasAccess (strict mode: %s)", async (strict) => {
    window.history.replaceState(null, "", "/export?tab=1&tollgate_checkout=success");
    const app = fakeApp({ capabilities: ["plan:free"], checkouts: { chk_1: ["open", "open", "completed"] } });
    const storage = memoryStorage();
    storage.setItem("tollgate:checkout:feature:hd_export", JSON.stringify({ checkoutId: "chk_1", product: "pro" }));
    const seen: string[] = [];

    const { result } = renderHook(
      () => {
        const access = useAccessAndCheckout({ capability: "feature:hd_export", product: "pro" });
        seen.push(`${access.status}:${String(access.hasAccess)}`);
        return access;
      },
      // Strict mode mounts, unmounts and mounts again, as Next.js does in development.
      { wrapper: wrapper(app, { storage }), reactStrictMode: strict },
    );

    await waitFor(() => expect(result.current.hasAccess).toBe(true));
    expect(result.current.status).toBe("ready");
    expect(result.current.checkout?.status).toBe("completed");
    expect(app.calls.filter((c) => c.path === "checkouts/chk_1").length).toBeGreaterThanOrEqual(3);
    expect(seen).toContain("confirming:false");
    // Access shows only after the checkout completed: never on the return address alone.
    expect(seen.findIndex((s) => s.endsWith(":true"))).toBeGreaterThan(seen.lastIndexOf("confirming:false"));
    expect(storage.map.size).toBe(0);
    expect(window.location.search).toBe("?tab=1");
  });

  it("AFailedCheckout_IsAnError_AndGrantsNothing", async () => {
    window.history.replaceState(null, "", "/export?tollgate_checkout=success");
    const app = fakeApp({ capabilities: ["plan:free"], checkouts: { chk_1: ["failed"] } });
    const storage = memoryStorage();
    storage.setItem("tollgate:checkout:feature:hd_export", JSON.stringify({ checkoutId: "chk_1", product: "pro" }));

    const { result } = renderHook(() => useAccessAndCheckout({ capability: "feature:hd_export", product: "pro" }), {
      wrapper: wrapper(app, { storage }),
    });

    await waitFor(() => expect(result.current.status).toBe("error"));
    expect(result.current.error).toMatchObject({ code: "checkout_failed", detail: "card_declined" });
    expect(result.current.hasAccess).toBe(false);
    expect(storage.map.size).toBe(0);
  });

  it("AccessAlreadyThere_RefreshesInsteadOfRedirecting", async () => {
    const app = fakeApp({ capabilities: ["plan:free"] });
    const visited: string[] = [];

    const { result } = renderHook(() => useAccessAndCheckout({ capability: "feature:hd_export", product: "pro" }), {
      wrapper: wrapper(app, { navigate: (url) => visited.push(url) }),
    });
    await waitFor(() => expect(result.current.status).toBe("ready"));
    // Bought in another tab meanwhile: the page's capabilities are stale, the server's ensure knows.
    app.state.capabilities = ["plan:pro", "feature:hd_export"];
    app.calls.length = 0;
    await act(() => result.current.startCheckout());

    expect(visited).toEqual([]);
    expect(result.current.hasAccess).toBe(true);
    expect(result.current.status).toBe("ready");
    expect(app.calls.map((c) => c.path)).toEqual(["access/ensure", "capabilities", "balances"]);
  });
});
