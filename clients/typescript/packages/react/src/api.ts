import { type Balances, type Capabilities, type Checkout, type EnsureResult, type PortalLink, type Products, TollgateError } from "@tollgate/client";

/** The browser's calls to the app's own `createTollgateHandler` (never to Tollgate itself: the browser has no key). */
export class BrowserApi {
  private readonly base: string;

  constructor(
    basePath: string,
    private readonly fetcher: typeof fetch = (...args) => globalThis.fetch(...args),
  ) {
    this.base = basePath.replace(/\/+$/, "");
  }

  capabilities(signal?: AbortSignal): Promise<Capabilities> {
    return this.send("GET", "capabilities", undefined, signal);
  }

  balances(signal?: AbortSignal): Promise<Balances> {
    return this.send("GET", "balances", undefined, signal);
  }

  products(signal?: AbortSignal): Promise<Products> {
    return this.send("GET", "products", undefined, signal);
  }

  createCheckout(input: { product: string; successUrl?: string; cancelUrl?: string }, signal?: AbortSignal): Promise<Checkout> {
    return this.send("POST", "checkouts", { product: input.product, success_url: input.successUrl, cancel_url: input.cancelUrl }, signal);
  }

  getCheckout(checkoutId: string, signal?: AbortSignal): Promise<Checkout> {
    return this.send("GET", `checkouts/${encodeURIComponent(checkoutId)}`, undefined, signal);
  }

  ensureAccess(input: { capability: string; product: string; successUrl?: string }, signal?: AbortSignal): Promise<EnsureResult> {
    return this.send("POST", "access/ensure", { capability: input.capability, product: input.product, success_url: input.successUrl }, signal);
  }

  portal(signal?: AbortSignal): Promise<PortalLink> {
    return this.send("POST", "portal", {}, signal);
  }

  private async send<T>(method: "GET" | "POST", path: string, body: unknown, signal: AbortSignal | undefined): Promise<T> {
    let response: Response;
    try {
      response = await this.fetcher(`${this.base}/${path}`, {
        method,
        headers: body === undefined ? { Accept: "application/json" } : { Accept: "application/json", "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        signal,
      });
    } catch (error) {
      signal?.throwIfAborted();
      throw new TollgateError(0, "network_error", `The app's billing endpoint could not be reached: ${String(error)}`, { cause: error });
    }
    const text = await response.text();
    if (!response.ok) throw TollgateError.fromResponse(response.status, text);
    return JSON.parse(text) as T;
  }
}
