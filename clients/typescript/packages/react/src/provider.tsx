import type { Balance, TollgateError } from "@tollgate/client";
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import { BrowserApi } from "./api.js";

/** Where a checkout in progress is remembered across the redirect to the provider and back. */
export type CheckoutStorage = Pick<Storage, "getItem" | "setItem" | "removeItem">;

export interface TollgateProviderProps {
  /** Where the app mounted `createTollgateHandler`; default `/api/tollgate`. */
  basePath?: string;
  /** A `fetch` of your own (tests, instrumentation). */
  fetch?: typeof fetch;
  /** Sends the browser to a checkout page; default `window.location.assign`. */
  navigate?: (url: string) => void;
  /** Default `window.sessionStorage`. */
  storage?: CheckoutStorage;
  /** How often a returning checkout is polled until its webhook is applied (ms); default 1,000. */
  pollIntervalMs?: number;
  /** How long to wait for that before reporting `checkout_pending` (ms); default 60,000. */
  confirmTimeoutMs?: number;
  children?: ReactNode;
}

export type LoadStatus = "loading" | "ready" | "error";

export interface TollgateContextValue {
  status: LoadStatus;
  /** `plan:<id>` and `feature:<id>` of the signed-in customer; undefined until loaded. */
  capabilities: readonly string[] | undefined;
  balances: readonly Balance[] | undefined;
  error: TollgateError | undefined;
  /** Reads capabilities and balances again (after a purchase, a usage). */
  refresh: () => Promise<void>;
  api: BrowserApi;
  navigate: (url: string) => void;
  storage: CheckoutStorage | undefined;
  pollIntervalMs: number;
  confirmTimeoutMs: number;
}

const TollgateContext = createContext<TollgateContextValue | undefined>(undefined);

/**
 * Loads the signed-in customer's capabilities and balances from the app's `createTollgateHandler` and shares them
 * with the hooks below it. Until they are known, gates show their loading state, never paid content.
 */
export function TollgateProvider(props: TollgateProviderProps) {
  const { basePath = "/api/tollgate", fetch, navigate, storage, pollIntervalMs = 1_000, confirmTimeoutMs = 60_000 } = props;
  const api = useMemo(() => new BrowserApi(basePath, fetch), [basePath, fetch]);
  const [state, setState] = useState<{ status: LoadStatus; capabilities?: readonly string[]; balances?: readonly Balance[]; error?: TollgateError }>({
    status: "loading",
  });
  const generation = useRef(0);
  const mounted = useRef(true);

  const refresh = useCallback(async () => {
    // Only the newest load may write: an older one finishing late must not overwrite fresher numbers.
    const mine = ++generation.current;
    try {
      const [capabilities, balances] = await Promise.all([api.capabilities(), api.balances()]);
      if (mounted.current && mine === generation.current) {
        setState({ status: "ready", capabilities: capabilities.capabilities, balances: balances.balances });
      }
    } catch (error) {
      if (mounted.current && mine === generation.current) {
        // Fail closed: what was known is dropped, so no gate stays open on stale access.
        setState({ status: "error", error: error as TollgateError });
      }
    }
  }, [api]);

  useEffect(() => {
    mounted.current = true;
    void refresh();
    return () => {
      mounted.current = false;
    };
  }, [refresh]);

  const value = useMemo<TollgateContextValue>(
    () => ({
      ...state,
      capabilities: state.capabilities,
      balances: state.balances,
      error: state.error,
      refresh,
      api,
      navigate: navigate ?? ((url: string) => window.location.assign(url)),
      storage: storage ?? (typeof window === "undefined" ? undefined : safeSessionStorage()),
      pollIntervalMs,
      confirmTimeoutMs,
    }),
    [state, refresh, api, navigate, storage, pollIntervalMs, confirmTimeoutMs],
  );
  return <TollgateContext.Provider value={value}>{props.children}</TollgateContext.Provider>;
}

export function useTollgateContext(): TollgateContextValue {
  const context = useContext(TollgateContext);
  if (context === undefined) throw new Error("Tollgate hooks need a <TollgateProvider> above them.");
  return context;
}

function safeSessionStorage(): CheckoutStorage | undefined {
  try {
    return window.sessionStorage;
  } catch {
    // Storage disabled (privacy settings): a return from checkout then just refreshes.
    return undefined;
  }
}
