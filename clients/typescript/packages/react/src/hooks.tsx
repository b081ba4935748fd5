import { type Balance, type Checkout, TollgateError } from "@tollgate/client";
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
 * May the customer use `feature` now? Their plan must include it (`feature:<id>`), and a feature with a balance
 * (credits, metered, count, concurrency) must have some left. The server's check at the time of use decides; this
 * decides what to show.
 */
export function useFeature(feature: string): FeatureState {
  const { status, error, has, balance } = useCustomer();
  const left = balance(feature);
  const allowed = status === "loading" ? undefined : status === "error" ? false : has(`feature:${feature}`) && (left === undefined || left.available > 0);
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

interface Pending {
  checkoutId: string;
  product: string;
}

/**
 * Seed 000's flow for a paid action: is `capability` there? If not, `startCheckout()` asks the server to ensure access
 * (which answers a checkout of `product`) and sends the browser to it. Back on this page, the checkout is polled until
 * the provider's webhook has been applied, then the customer's capabilities are read again. Access comes only from
 * Tollgate: the return address grants nothing.
 */
export function useAccessAndCheckout({ capability, product }: { capability: string; product: string }): AccessAndCheckout {
  const context = useTollgateContext();
  const { api, storage, navigate, refresh, pollIntervalMs, confirmTimeoutMs } = context;
  const [phase, setPhase] = useState<{ status: "idle" | "redirecting" | "confirming" | "error"; error?: TollgateError; checkout?: Checkout }>({
    status: "idle",
  });
  const storageKey = `tollgate:checkout:${capability}`;
  const alive = useRef(true);
  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
    };
  }, []);

  // Back from a checkout: confirm it, once per return.
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

  const hasAccess = context.status === "ready" ? (context.capabilities?.includes(capability) ?? false) : context.status === "error" ? false : undefined;

  const startCheckout = useCallback(async () => {
    if (hasAccess) return;
    setPhase({ status: "redirecting" });
    try {
      const back = new URL(window.location.href);
      back.searchParams.set(ReturnParameter, "success");
      const answer = await api.ensureAccess({ capability, product, successUrl: back.toString() });
      if (answer.already_has_access) {
        await refresh();
        if (alive.current) setPhase({ status: "idle" });
        return;
      }
      storage?.setItem(storageKey, JSON.stringify({ checkoutId: answer.checkout_id!, product } satisfies Pending));
      navigate(answer.checkout_url!);
    } catch (error) {
      if (alive.current) setPhase({ status: "error", error: asError(error) });
    }
  }, [hasAccess, api, capability, product, refresh, storage, storageKey, navigate]);

  const status: AccessStatus =
    phase.status === "idle" ? (context.status === "loading" ? "loading" : context.status === "error" ? "error" : "ready") : phase.status;
  return {
    hasAccess,
    status,
    isLoading: status === "loading" || status === "redirecting" || status === "confirming",
    error: phase.error ?? (phase.status === "idle" ? context.error : undefined),
    checkout: phase.checkout,
    startCheckout,
  };
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
