import { TollgateError } from "./errors.js";

/** Per call: an `AbortSignal` of the caller's, and a timeout for each attempt. */
export interface CallOptions {
  /** Aborts the call (and its retries); the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Milliseconds one attempt may take before it counts as failed (`timeout`); the client's default otherwise. */
  timeoutMs?: number;
}

export interface TransportOptions {
  baseUrl: string;
  secretKey: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
  maxRetries?: number;
  retryDelayMs?: number;
}

export interface Call {
  method: "GET" | "POST" | "PUT";
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Sent as `Idempotency-Key` on every attempt, so that a retry replays instead of repeating the effect. */
  idempotencyKey?: string;
  /** Whether sending the call twice is harmless (reads, keyed writes, PUT): only those are retried. */
  retry: boolean;
}

/**
 * One HTTP exchange with a Tollgate server, retried with backoff on network errors, timeouts and 5xx answers when
 * `call.retry` says repeating it is harmless. Refusals (4xx) are never retried: the same request gets the same answer.
 */
export class Transport {
  private readonly baseUrl: string;
  private readonly authorization: string;
  private readonly fetcher: typeof fetch;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly retryDelayMs: number;

  constructor(options: TransportOptions) {
    if (!options.baseUrl) throw new TypeError("Tollgate: baseUrl is required (e.g. http://localhost:5080).");
    if (!options.secretKey) throw new TypeError("Tollgate: secretKey is required (a key of Tollgate__ApiKeys, or the development key).");
    if (typeof window !== "undefined" && typeof document !== "undefined") {
      // The secret key grants everything on every customer: it belongs on the app's server only.
      throw new Error("Tollgate: the client holds the secret key and must not run in a browser; use createTollgateHandler and @tollgate/react.");
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.authorization = `Bearer ${options.secretKey}`;
    this.fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxRetries = options.maxRetries ?? 2;
    this.retryDelayMs = options.retryDelayMs ?? 250;
  }

  async send<T>(call: Call, options: CallOptions = {}): Promise<T> {
    const url = this.url(call);
    const headers: Record<string, string> = { Authorization: this.authorization, Accept: "application/json" };
    if (call.body !== undefined) headers["Content-Type"] = "application/json";
    if (call.idempotencyKey !== undefined) headers["Idempotency-Key"] = call.idempotencyKey;
    const body = call.body === undefined ? undefined : JSON.stringify(call.body);
    const attempts = call.retry ? this.maxRetries + 1 : 1;

    for (let attempt = 1; ; attempt++) {
      options.signal?.throwIfAborted();
      let failure: TollgateError;
      const timeout = new AttemptTimeout(options.timeoutMs ?? this.timeoutMs, options.signal);
      try {
        const response = await this.fetcher(url, { method: call.method, headers, body, signal: timeout.signal });
        const text = await response.text();
        if (response.ok) return parse<T>(response.status, text);
        failure = TollgateError.fromResponse(response.status, text);
        if (response.status < 500) throw failure;
      } catch (error) {
        if (error instanceof TollgateError) throw error;
        options.signal?.throwIfAborted();
        failure = timeout.timedOut
          ? new TollgateError(0, "timeout", `Tollgate did not answer ${call.method} ${call.path} within ${timeout.ms} ms.`, { cause: error })
          : new TollgateError(0, "network_error", `Tollgate could not be reached for ${call.method} ${call.path}: ${String(error)}`, { cause: error });
      } finally {
        timeout.dispose();
      }
      if (attempt >= attempts) throw failure;
      await sleep(this.backoff(attempt), options.signal);
    }
  }

  /** Exponential, with jitter so that many clients failing together do not retry together. */
  private backoff(attempt: number): number {
    const ceiling = Math.min(this.retryDelayMs * 2 ** (attempt - 1), 5_000);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  private url(call: Call): string {
    const query = Object.entries(call.query ?? {})
      .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
      .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`)
      .join("&");
    return `${this.baseUrl}${call.path}${query ? `?${query}` : ""}`;
  }
}

/** An attempt's signal: aborted by the caller's signal or after `ms`, whichever comes first. */
class AttemptTimeout {
  readonly signal: AbortSignal;
  timedOut = false;
  private readonly controller = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout>;
  private readonly onAbort: () => void;

  constructor(
    readonly ms: number,
    private readonly outer: AbortSignal | undefined,
  ) {
    this.signal = this.controller.signal;
    this.onAbort = () => this.controller.abort(outer?.reason);
    outer?.addEventListener("abort", this.onAbort, { once: true });
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(new DOMException(`timed out after ${ms} ms`, "TimeoutError"));
    }, ms);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener("abort", this.onAbort);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function parse<T>(status: number, text: string): T {
  if (text.length === 0) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new TollgateError(status, "unexpected_response", `Tollgate answered ${status} with a body that is not JSON.`, { cause: error });
  }
}

/** A fresh key for a call that needs one (crypto.randomUUID: Node 19+, browsers, edge runtimes). */
export function newIdempotencyKey(): string {
  return `tgc_${globalThis.crypto.randomUUID()}`;
}
