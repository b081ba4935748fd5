import type { components } from "./generated/openapi.js";
import { type CallOptions, newIdempotencyKey, Transport } from "./http.js";
import type {
  Balances,
  Capabilities,
  Checkout,
  CheckResult,
  Customer,
  EnsureResult,
  Grant,
  Hold,
  Ledger,
  Members,
  PortalLink,
  Products,
  Subscription,
  ReleaseResult,
  SettleResult,
  Subscriptions,
  UsageResult,
  UsageReversal,
} from "./types.js";

type Body<Name extends keyof components["schemas"]> = components["schemas"][Name];

export interface TollgateOptions {
  /** The Tollgate server, e.g. `http://localhost:5080`. */
  baseUrl: string;
  /** A secret key (`Tollgate__ApiKeys__0`, or the development key the server prints). Server-side only. */
  secretKey: string;
  /** A `fetch` of your own (instrumentation, a test double); the global one otherwise. */
  fetch?: typeof fetch;
  /** Milliseconds one attempt may take; default 10,000. */
  timeoutMs?: number;
  /** Retries after the first attempt, for calls safe to repeat (reads and keyed writes); default 2. */
  maxRetries?: number;
  /** The first retry waits about this long (ms), each next one twice as long, with jitter; default 250. */
  retryDelayMs?: number;
}

/** Calls that charge or grant carry an Idempotency-Key; one is generated when none is given, and reused on retries. */
export interface Keyed {
  /** Your own key for this effect (e.g. the id of the message being charged): a repeat of the call replays the first answer. */
  idempotencyKey?: string;
}

/**
 * A Tollgate server's `/v1` API, typed from its OpenAPI document. `fetch` only: Node 20+, Deno, Bun, edge runtimes.
 * Refusals throw {@link TollgateError} with `status` and `code`; a check that says no is an answer, not an error.
 */
export class Tollgate {
  private readonly http: Transport;

  constructor(options: TollgateOptions) {
    this.http = new Transport(options);
  }

  /** May the customer use `amount` (default 1) of `feature`? `{allowed, reason?, balance?}`; nothing is recorded. */
  check(input: { customerId: string; feature: string; amount?: number }, options?: CallOptions): Promise<CheckResult> {
    const body: Body<"CheckBody"> = { customer_id: input.customerId, feature: input.feature, amount: input.amount };
    return this.http.send({ method: "POST", path: "/v1/check", body, retry: true }, options);
  }

  /** Records `amount` of `feature` as used, all or nothing: `402 quota_exceeded | insufficient_balance | limit_reached` when it does not fit. */
  usage(input: { customerId: string; feature: string; amount: number } & Keyed, options?: CallOptions): Promise<UsageResult> {
    const body: Body<"UsageBody"> = { customer_id: input.customerId, feature: input.feature, amount: input.amount };
    return this.keyed("/v1/usage", body, input.idempotencyKey, options);
  }

  /** Puts back what a usage took, lot by lot (`entryId` is the usage's `entry_id`): `409 already_reversed` the second
   * time, unless with the same key, which replays the first answer. */
  reverseUsage(input: { entryId: string } & Keyed, options?: CallOptions): Promise<UsageReversal> {
    return this.keyed(`/v1/usage/${segment(input.entryId)}/reverse`, undefined, input.idempotencyKey, options);
  }

  /** Reservations for work whose cost is known only at the end: create, then settle what was used or release. */
  readonly holds = {
    create: (
      input: { customerId: string; feature: string; amount: number; ttlSeconds?: number } & Keyed,
      options?: CallOptions,
    ): Promise<Hold> => {
      const body: Body<"HoldBody"> = { customer_id: input.customerId, feature: input.feature, amount: input.amount, ttl_seconds: input.ttlSeconds };
      return this.keyed("/v1/holds", body, input.idempotencyKey, options);
    },
    /** Settles `amount` (default: all of it); the rest goes back where it came from. */
    settle: (input: { holdId: string; amount?: number }, options?: CallOptions): Promise<SettleResult> => {
      const body: Body<"SettleBody"> = { amount: input.amount };
      // Not retried: a settle the server applied but whose answer was lost would be refused as hold_not_active.
      return this.http.send({ method: "POST", path: `/v1/holds/${segment(input.holdId)}/settle`, body, retry: false }, options);
    },
    release: (input: { holdId: string }, options?: CallOptions): Promise<ReleaseResult> =>
      this.http.send({ method: "POST", path: `/v1/holds/${segment(input.holdId)}/release`, retry: false }, options),
    get: (input: { holdId: string }, options?: CallOptions): Promise<Hold> =>
      this.http.send({ method: "GET", path: `/v1/holds/${segment(input.holdId)}`, retry: true }, options),
  };

  /** Customers under your app's own ids (1–128 characters of `A-Za-z0-9_.:@-`). */
  readonly customers = {
    /**
     * Creates or updates; fields left out keep their value. `billingCustomerId` makes the customer a member of that
     * organization (its checks, usage and holds are charged there); `null` bills it on itself again.
     */
    upsert: (
      input: { customerId: string; email?: string; name?: string; metadata?: Record<string, string>; billingCustomerId?: string | null },
      options?: CallOptions,
    ): Promise<Customer> => {
      // `null` must reach the server (it detaches); `undefined` is left out of the JSON (it keeps the billing customer).
      const body: Omit<Body<"CustomerBody">, "billing_customer_id"> & { billing_customer_id?: string | null } = {
        email: input.email,
        name: input.name,
        metadata: input.metadata,
        billing_customer_id: input.billingCustomerId,
      };
      return this.http.send({ method: "PUT", path: customerPath(input.customerId), body, retry: true }, options);
    },
    /** Starts a card-less trial of `plan` (one with `trial_days` in the catalog), once per customer and plan:
     * `409 not_eligible` the second time; a retry with the same key replays the trial started. */
    startTrial: (input: { customerId: string; plan: string } & Keyed, options?: CallOptions): Promise<Subscription> => {
      const body: Body<"TrialBody"> = { plan: input.plan };
      return this.keyed(`${customerPath(input.customerId)}/trials`, body, input.idempotencyKey, options);
    },
    /** The customers billed on this one (an organization's members), by id, `limit` (1–200, default 50) at a time;
     * pass the answer's `next` as `after` for the next page. */
    members: (input: { customerId: string; limit?: number; after?: string }, options?: CallOptions): Promise<Members> =>
      this.http.send(
        { method: "GET", path: `${customerPath(input.customerId)}/members`, query: { limit: input.limit, after: input.after }, retry: true },
        options,
      ),
    get: (input: { customerId: string }, options?: CallOptions): Promise<Customer> =>
      this.http.send({ method: "GET", path: customerPath(input.customerId), retry: true }, options),
    /** `plan:<id>` and `feature:<id>` the customer has now (an unknown customer: the default plan's). */
    capabilities: (input: { customerId: string }, options?: CallOptions): Promise<Capabilities> =>
      this.http.send({ method: "GET", path: `${customerPath(input.customerId)}/capabilities`, retry: true }, options),
    balances: (input: { customerId: string }, options?: CallOptions): Promise<Balances> =>
      this.http.send({ method: "GET", path: `${customerPath(input.customerId)}/balances`, retry: true }, options),
    ledger: (
      input: { customerId: string; feature?: string; limit?: number; after?: string },
      options?: CallOptions,
    ): Promise<Ledger> =>
      this.http.send(
        {
          method: "GET",
          path: `${customerPath(input.customerId)}/ledger`,
          query: { feature: input.feature, limit: input.limit, after: input.after },
          retry: true,
        },
        options,
      ),
    subscriptions: (input: { customerId: string }, options?: CallOptions): Promise<Subscriptions> =>
      this.http.send({ method: "GET", path: `${customerPath(input.customerId)}/subscriptions`, retry: true }, options),
    /** A signed link to the customer's hosted portal, valid for an hour. */
    portal: (input: { customerId: string }, options?: CallOptions): Promise<PortalLink> =>
      this.http.send({ method: "POST", path: `${customerPath(input.customerId)}/portal`, retry: false }, options),
  };

  readonly grants = {
    /** Adds credits (a lot) to a customer, with the reason shown in their history. */
    create: (
      input: { customerId: string; feature: string; amount: number; reason: string; expiresAt?: string | Date } & Keyed,
      options?: CallOptions,
    ): Promise<Grant> => {
      const body: Body<"GrantBody"> = {
        feature: input.feature,
        amount: input.amount,
        reason: input.reason,
        expires_at: input.expiresAt instanceof Date ? input.expiresAt.toISOString() : input.expiresAt,
      };
      return this.keyed(`${customerPath(input.customerId)}/grants`, body, input.idempotencyKey, options);
    },
  };

  readonly checkouts = {
    /** A hosted checkout of a plan or pack; send the customer to its `url`. Credits arrive from the provider's webhook only. */
    create: (
      input: {
        customerId: string;
        product: string;
        provider?: string;
        successUrl?: string;
        cancelUrl?: string;
        metadata?: Record<string, string>;
      },
      options?: CallOptions,
    ): Promise<Checkout> => {
      const body: Body<"CheckoutBody"> = {
        customer_id: input.customerId,
        product: input.product,
        provider: input.provider,
        success_url: input.successUrl,
        cancel_url: input.cancelUrl,
        metadata: input.metadata,
      };
      return this.http.send({ method: "POST", path: "/v1/checkouts", body, retry: false }, options);
    },
    /** `status` is `completed` once the provider's webhook has been applied. */
    get: (input: { checkoutId: string }, options?: CallOptions): Promise<Checkout> =>
      this.http.send({ method: "GET", path: `/v1/checkouts/${segment(input.checkoutId)}`, retry: true }, options),
  };

  readonly access = {
    /** `{already_has_access: true}`, or a checkout of `product` that would give `capability`. */
    ensure: (
      input: { customerId: string; capability: string; product: string; successUrl?: string },
      options?: CallOptions,
    ): Promise<EnsureResult> => {
      const body: Body<"EnsureBody"> = {
        customer_id: input.customerId,
        capability: input.capability,
        product: input.product,
        success_url: input.successUrl,
      };
      return this.http.send({ method: "POST", path: "/v1/access/ensure", body, retry: false }, options);
    },
  };

  readonly products = {
    /** Plans and packs with their prices; with `customerId`, whether each may still be bought (`eligible`). */
    list: (input: { customerId?: string; provider?: string } = {}, options?: CallOptions): Promise<Products> =>
      this.http.send(
        { method: "GET", path: "/v1/products", query: { customer_id: input.customerId, provider: input.provider }, retry: true },
        options,
      ),
  };

  /** A money-moving POST: the caller's key, or one made for this call and reused on every retry, so a retry after a
   * lost answer replays the first result instead of applying it twice. */
  private keyed<T>(path: string, body: unknown, idempotencyKey: string | undefined, options?: CallOptions): Promise<T> {
    return this.http.send({ method: "POST", path, body, idempotencyKey: idempotencyKey ?? newIdempotencyKey(), retry: true }, options);
  }
}

function segment(value: string): string {
  return encodeURIComponent(value);
}

function customerPath(customerId: string): string {
  return `/v1/customers/${segment(customerId)}`;
}
