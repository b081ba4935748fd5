import { type Balance, type Checkout, type Products, TollgateError } from "@tollgate/client";
import { type ReactNode, useCallback, useEffect, useRef, useState } from "react";
import { type LoadStatus, useTollgateContext } from "./provider.js";

/** The query parameter the checkout sends the browser back with. */
export const ReturnParameter = "tollgate_checkout";

export interface CustomerState {
  status: LoadStatus;
  isLoading: boolean;
  error: TollgateError | undefined;
  capabilities: readonly string[] | undefined;
  balances: readonly Balance[] | undefined;
  /** Whether the customer has `capability` (`plan:pro`, `feature:hd_export`); false while unknown. */
  has: (capability: string) => boolean;
  balance: (feature: string) => Balance | undefined;
  refresh: () => Promise<void>;
  /** Opens the hosted customer portal (plan, renewals, history, invoices). */
  openPortal: () => Promise<void>;
}

/** The signed-in customer: capabilities, balances, and a link to their portal. */
export function useCustomer(): CustomerState {
  const context = useTollgateContext();
  const { capabilities, balances, api, navigate } = context;
  const has = useCallback((capability: string) => capabilities?.includes(capability) ?? false, [capabilities]);
  const balance = useCallback((feature: string) => balances?.find((b) => b.feature === feature), [balances]);
  const openPortal = useCallback(async () => navigate((await api.portal()).url), [api, navigate]);
  return {
    status: context.status,
    isLoading: context.status === "loading",
    error: context.error,
    capabilities,
    balances,
    has,
    balance,
    refresh: context.refresh,
    openPortal,
  };
}

export interface FeatureState {
  /** undefined while loading; false on an error (fail closed). */
  allowed: boolean | undefined;
  isLoading: boolean;
  error: TollgateError | undefined;
  balance: Balance | undefined;
}

/**
 * May the customer use `feature` now, as the server's check would answer for one unit? A feature with a balance
 * (credits, metered, count, concurrency) needs some left: a metered one whose allowance is used up may still spill
 * into credits; a feature without one (boolean) needs `feature:<id>` in the customer's capabilities. The server's
 * check at the time of use decides; this decides what to show.
 */
export function useFeature(feature: string): FeatureState {
  const { status, error, has, balance } = useCustomer();
  const left = balance(feature);
  let allowed: boolean | undefined;
  if (status === "loading") allowed = undefined;
  else if (status === "error") allowed = false;
  else if (left === undefined) allowed = has(`feature:${feature}`);
  else if (left.type === "metered") allowed = left.available > 0 || (balance("credits")?.available ?? 0) > 0;
  else allowed = left.available > 0;
  return { allowed, isLoading: status === "loading", error, balance: left };
}

export interface FeatureGateProps {
  feature: string;
  /** Shown when the customer may not use the feature, and when access could not be read. */
  fallback?: ReactNode;
  /** Shown while access is being read; default nothing, so paid content never flashes. */
  loading?: ReactNode;
  children?: ReactNode;
}

/** Renders its children only once the customer is known to have `feature`. */
export function FeatureGate({ feature, fallback = null, loading = null, children }: FeatureGateProps) {
  const { allowed } = useFeature(feature);
  return <>{allowed === undefined ? loading : allowed ? children : fallback}</>;
}

export type AccessStatus =
  /** Reading the customer's capabilities. */
  | "loading"
  /** Known: `hasAccess` says whether they have it. */
  | "ready"
  /** Asking the server for a checkout, then leaving for it. */
  | "redirecting"
  /** Back from the checkout: waiting for the provider's webhook to be applied. */
  | "confirming"
  | "error";

export interface AccessAndCheckout {
  hasAccess: boolean | undefined;
  status: AccessStatus;
  isLoading: boolean;
  error: TollgateError | undefined;
  /** The checkout being confirmed after a return, as last read. */
  checkout: Checkout | undefined;
  /** Check → ensure → redirect to the checkout. Resolves without leaving when access is already there. */
  startCheckout: () => Promise<void>;
}

/**
 * Seed 000's flow for a paid action: is `capability` there? If not, `startCheckout()` asks the server to ensure access
 * (which answers a checkout of `product`) and sends the browser to it. Back on this page, the checkout is polled until
 * the provider's webhook has been applied, then the customer's capabilities are read again. Access comes only from
 * Tollgate: the return address grants nothing.
 */
export function useAccessAndCheckout({ capability, product }: { capability: string; product: string }): AccessAndCheckout {
  const context = useTollgateContext();
  const flow = useCheckoutFlow(`tollgate:checkout:${capability}`);
  const { api } = context;
  const hasAccess = context.status === "ready" ? (context.capabilities?.includes(capability) ?? false) : context.status === "error" ? false : undefined;

  const { run } = flow;
  const startCheckout = useCallback(
    () =>
      run(async (successUrl) => {
        if (hasAccess) return undefined;
        const answer = await api.ensureAccess({ capability, product, successUrl });
        return answer.already_has_access ? undefined : { checkoutId: answer.checkout_id!, url: answer.checkout_url! };
      }),
    [run, hasAccess, api, capability, product],
  );

  const status: AccessStatus =
    flow.phase.status === "idle" ? (context.status === "loading" ? "loading" : context.status === "error" ? "error" : "ready") : flow.phase.status;
  return {
    hasAccess,
    status,
    isLoading: status === "loading" || status === "redirecting" || status === "confirming",
    error: flow.phase.error ?? (flow.phase.status === "idle" ? context.error : undefined),
    checkout: flow.phase.checkout,
    startCheckout,
  };
}

export type CheckoutStatus = "idle" | "redirecting" | "confirming" | "error";

export interface CheckoutState {
  status: CheckoutStatus;
  error: TollgateError | undefined;
  /** The checkout being confirmed after a return, as last read; `status: "completed"` once its webhook was applied. */
  checkout: Checkout | undefined;
  /** Sends the browser to a checkout of `product` (a pack, a plan); back here, confirms it and refreshes balances. */
  buy: (product: string) => Promise<void>;
}

/** Buying a pack or plan outright, with the same return-and-confirm flow as {@link useAccessAndCheckout}. */
export function useCheckout(): CheckoutState {
  const { api } = useTollgateContext();
  const flow = useCheckoutFlow("tollgate:checkout:purchase");
  const { run } = flow;
  const buy = useCallback(
    (product: string) =>
      run(async (successUrl) => {
        const checkout = await api.createCheckout({ product, successUrl, cancelUrl: withReturn("cancel") });
        return { checkoutId: checkout.id, url: checkout.url };
      }),
    [run, api],
  );
  return { status: flow.phase.status, error: flow.phase.error, checkout: flow.phase.checkout, buy };
}

export interface ProductsState {
  products: Products | undefined;
  isLoading: boolean;
  error: TollgateError | undefined;
}

/** Plans and packs with prices, and for the signed-in customer whether each may still be bought (`eligible`). */
export function useProducts(): ProductsState {
  const { api, capabilities } = useTollgateContext();
  const key = capabilities?.join(" ");
  const [state, setState] = useState<ProductsState>({ products: undefined, isLoading: true, error: undefined });
  useEffect(() => {
    // Read again whenever the customer's capabilities change (a purchase makes a once-only pack ineligible).
    const controller = new AbortController();
    api.products(controller.signal).then(
      (products) => setState({ products, isLoading: false, error: undefined }),
      (error: unknown) => {
        if (!controller.signal.aborted) setState({ products: undefined, isLoading: false, error: asError(error) });
      },
    );
    return () => controller.abort();
  }, [api, key]);
  return state;
}

interface Pending {
  checkoutId: string;
}

interface Phase {
  status: "idle" | "redirecting" | "confirming" | "error";
  error?: TollgateError;
  checkout?: Checkout;
}

/**
 * The part both checkout hooks share: remember the checkout under `storageKey` and leave for it; back on the page
 * (`?tollgate_checkout=success`), poll it until the provider's webhook has been applied, then refresh the customer.
 */
function useCheckoutFlow(storageKey: string) {
  const { api, storage, navigate, refresh, pollIntervalMs, confirmTimeoutMs } = useTollgateContext();
  const [phase, setPhase] = useState<Phase>({ status: "idle" });
  const alive = useRef(true);
  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
    };
  }, []);

  useEffect(() => {
    const returned = new URL(window.location.href).searchParams.get(ReturnParameter);
    const pending = read(storage, storageKey);
    if (returned === null || pending === undefined) return;
    // Forgotten only once settled, so that a remount (React's strict mode, a reload) picks the confirmation up again.
    const forget = () => {
      storage?.removeItem(storageKey);
      const url = new URL(window.location.href);
      url.searchParams.delete(ReturnParameter);
      window.history.replaceState(window.history.state, "", url.toString());
    };
    if (returned !== "success") {
      forget();
      return;
    }

    const controller = new AbortController();
    setPhase({ status: "confirming" });
    void (async () => {
      const deadline = Date.now() + confirmTimeoutMs;
      try {
        for (;;) {
          const checkout = await api.getCheckout(pending.checkoutId, controller.signal);
          controller.signal.throwIfAborted();
          setPhase({ status: "confirming", checkout });
          if (checkout.status === "completed") {
            forget();
            await refresh();
            if (alive.current) setPhase({ status: "idle", checkout });
            return;
          }
          if (checkout.status !== "open") {
            const detail = checkout.failure ?? `The checkout ${checkout.status === "failed" ? "failed" : "expired"}.`;
            throw new TollgateError(402, `checkout_${checkout.status}`, detail, { detail });
          }
          if (Date.now() > deadline) {
            const detail = "The payment has not been confirmed yet; it will show once the provider reports it.";
            throw new TollgateError(0, "checkout_pending", detail, { detail });
          }
          await delay(pollIntervalMs, controller.signal);
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        forget();
        if (alive.current) setPhase({ status: "error", error: asError(error) });
      }
    })();
    return () => controller.abort();
  }, [api, storage, storageKey, refresh, pollIntervalMs, confirmTimeoutMs]);

  /** `open` answers the checkout to leave for, or undefined when there is nothing to buy (access is already there). */
  const run = useCallback(
    async (open: (successUrl: string) => Promise<{ checkoutId: string; url: string } | undefined>) => {
      setPhase({ status: "redirecting" });
      try {
        const checkout = await open(withReturn("success"));
        if (checkout === undefined) {
          await refresh();
          if (alive.current) setPhase({ status: "idle" });
          return;
        }
        storage?.setItem(storageKey, JSON.stringify({ checkoutId: checkout.checkoutId } satisfies Pending));
        navigate(checkout.url);
      } catch (error) {
        if (alive.current) setPhase({ status: "error", error: asError(error) });
      }
    },
    [refresh, storage, storageKey, navigate],
  );

  return { phase, run };
}

/** This page's address, marked so that the hooks know a checkout sent the browser back. */
function withReturn(outcome: "success" | "cancel"): string {
  const url = new URL(window.location.href);
  url.searchParams.set(ReturnParameter, outcome);
  return url.toString();
}

function read(storage: { getItem(key: string): string | null } | undefined, key: string): Pending | undefined {
  const text = storage?.getItem(key);
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as Pending;
    return typeof value.checkoutId === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

function asError(error: unknown): TollgateError {
  return error instanceof TollgateError ? error : new TollgateError(0, "network_error", String(error), { cause: error });
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
