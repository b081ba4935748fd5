import type { Tollgate } from "./client.js";
import { TollgateError } from "./errors.js";

export interface TollgateHandlerOptions {
  /** A server-side client (it holds the secret key, which never leaves your server). */
  tollgate: Tollgate;
  /**
   * The signed-in customer's id, from your session (cookie, auth library), or null/undefined when nobody is signed
   * in (answered 401). The customer id is never read from the browser's request.
   */
  getCustomerId: (request: Request) => string | null | undefined | Promise<string | null | undefined>;
  /** Where the handler is mounted; default `/api/tollgate`. */
  basePath?: string;
}

/** A Web `Request → Response` handler: Next.js route handlers, Hono, Remix, Bun, Deno, or Node through an adapter. */
export type TollgateHandler = (request: Request) => Promise<Response>;

type Route = (context: { request: Request; customerId: string; tollgate: Tollgate; params: string[] }) => Promise<Response>;

/**
 * The browser's side of Tollgate, for the signed-in customer only: their capabilities, balances, products, checkouts,
 * access checks and portal link. Mounted at `basePath`, it answers
 * `GET capabilities`, `GET balances`, `GET products`, `POST checkouts {product}`, `GET checkouts/{id}`,
 * `POST access/ensure {capability, product}` and `POST portal`. Errors are problem+json with a stable `code`.
 */
export function createTollgateHandler(options: TollgateHandlerOptions): TollgateHandler {
  const { tollgate, getCustomerId } = options;
  const base = (options.basePath ?? "/api/tollgate").replace(/\/+$/, "");
  const routes: Record<string, Partial<Record<string, Route>>> = {
    capabilities: { GET: ({ customerId }) => json(tollgate.customers.capabilities({ customerId })) },
    balances: { GET: ({ customerId }) => json(tollgate.customers.balances({ customerId })) },
    products: { GET: ({ customerId }) => json(tollgate.products.list({ customerId })) },
    checkouts: {
      POST: async ({ request, customerId }) => {
        const body = await readBody(request);
        return json(
          tollgate.checkouts.create({
            customerId,
            product: text(body, "product"),
            successUrl: returnUrl(body, request),
            cancelUrl: returnUrl(body, request, "cancel_url"),
          }),
          201,
        );
      },
    },
    "checkouts/*": {
      GET: async ({ customerId, params }) => {
        const checkout = await tollgate.checkouts.get({ checkoutId: params[0]! });
        // Someone else's checkout does not exist, as far as this customer can tell.
        if (checkout.customer_id !== customerId) throw new TollgateError(404, "checkout_not_found", "No such checkout.");
        return json(checkout);
      },
    },
    "access/ensure": {
      POST: async ({ request, customerId }) => {
        const body = await readBody(request);
        return json(
          tollgate.access.ensure({
            customerId,
            capability: text(body, "capability"),
            product: text(body, "product"),
            successUrl: returnUrl(body, request),
          }),
        );
      },
    },
    portal: {
      POST: async ({ customerId }) => {
        try {
          return await json(tollgate.customers.portal({ customerId }));
        } catch (error) {
          if (!(error instanceof TollgateError && error.code === "customer_not_found")) throw error;
          // Signed in but never written to Tollgate (reads need no customer record; a portal does): create it, keeping nothing else.
          await tollgate.customers.upsert({ customerId });
          return await json(tollgate.customers.portal({ customerId }));
        }
      },
    },
  };

  return async (request: Request): Promise<Response> => {
    try {
      const path = new URL(request.url).pathname;
      if (path !== base && !path.startsWith(`${base}/`)) return problem(404, "not_found", "No such endpoint.");
      const segments = path.slice(base.length + 1).split("/").filter(Boolean).map(decodeSegment);
      const [key, params] = match(segments);
      const route = key !== undefined && Object.hasOwn(routes, key) ? routes[key] : undefined;
      if (route === undefined) return problem(404, "not_found", "No such endpoint.");
      const handler = route[request.method];
      if (handler === undefined) {
        return problem(405, "method_not_allowed", `Use ${Object.keys(route).join(" or ")}.`, { Allow: Object.keys(route).join(", ") });
      }
      if (request.method !== "GET") assertSameOrigin(request);

      const customerId = await getCustomerId(request);
      if (!customerId) return problem(401, "unauthenticated", "Sign in first.");
      return await handler({ request, customerId, tollgate, params });
    } catch (error) {
      if (error instanceof TollgateError) {
        if (error.status === 0 || error.status >= 500) {
          // What went wrong between this server and Tollgate is this server's business, not the browser's.
          return problem(502, "tollgate_unavailable", "Billing is unavailable right now; try again shortly.");
        }
        if (error.status === 401) return problem(502, "tollgate_unavailable", "Billing is misconfigured on the server.");
        return problem(error.status, error.code, error.detail ?? error.message);
      }
      throw error;
    }
  };
}

function match(segments: string[]): [string | undefined, string[]] {
  if (segments.length === 1) return [segments[0], []];
  if (segments.length === 2 && segments[0] === "checkouts") return ["checkouts/*", [segments[1]!]];
  if (segments.length === 2) return [segments.join("/"), []];
  return [undefined, []];
}

async function json(answer: unknown, status = 200): Promise<Response> {
  return new Response(JSON.stringify(await answer), {
    status,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store" },
  });
}

function problem(status: number, code: string, detail: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ type: `https://tollgate.dev/problems/${code}`, title: detail, status, detail, code }), {
    status,
    headers: { "Content-Type": "application/problem+json", "Cache-Control": "no-store", ...headers },
  });
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new TollgateError(400, "invalid_request", "The path is not valid.");
  }
}

/** The bodies here are a few fields; anything bigger is not one of them. */
const maxBodyBytes = 16 * 1024;

async function readBody(request: Request): Promise<Record<string, unknown>> {
  if (!(request.headers.get("Content-Type") ?? "").toLowerCase().startsWith("application/json")) {
    throw new TollgateError(415, "unsupported_media_type", "Send Content-Type: application/json.");
  }
  if (Number(request.headers.get("Content-Length") ?? 0) > maxBodyBytes) {
    throw new TollgateError(413, "payload_too_large", `The body may be at most ${maxBodyBytes} bytes.`);
  }
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    throw new TollgateError(400, "invalid_request", "The body must be a JSON object.");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new TollgateError(400, "invalid_request", "The body must be a JSON object.");
  }
  return body as Record<string, unknown>;
}

function text(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== "string" || value.length === 0) throw new TollgateError(400, "invalid_request", `${field} is required.`);
  return value;
}

/** A return address from the browser, accepted only on this app's own origin: never a redirect to elsewhere. */
function returnUrl(body: Record<string, unknown>, request: Request, field = "success_url"): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new TollgateError(400, "invalid_request", `${field} must be a URL.`);
  const origins = siteOrigins(request);
  let url: URL;
  try {
    url = new URL(value, request.headers.get("Origin") ?? request.url);
  } catch {
    throw new TollgateError(400, "invalid_request", `${field} must be a URL.`);
  }
  if (!origins.has(url.origin)) {
    throw new TollgateError(400, "invalid_request", `${field} must be on this site (${[...origins][0]}).`);
  }
  return url.toString();
}

/**
 * Writes (checkouts, portal links) only from this site's own pages: a browser sends Origin on every cross-site POST,
 * and JSON bodies need a CORS preflight this handler never grants.
 */
function assertSameOrigin(request: Request): void {
  const origin = request.headers.get("Origin");
  if (origin !== null && !siteOrigins(request).has(origin)) {
    throw new TollgateError(403, "cross_origin", "Requests from other sites are refused.");
  }
}

/**
 * The origins this site answers on: the request's URL, and the host the browser asked for (Host, or X-Forwarded-Host
 * behind a proxy), which frameworks do not always copy into the URL (`next start` reports localhost for 127.0.0.1).
 */
function siteOrigins(request: Request): Set<string> {
  const url = new URL(request.url);
  const protocol = request.headers.get("X-Forwarded-Proto")?.split(",")[0]?.trim() ?? url.protocol.replace(":", "");
  const origins = new Set([url.origin]);
  for (const host of [request.headers.get("Host"), request.headers.get("X-Forwarded-Host")?.split(",")[0]?.trim()]) {
    if (host) origins.add(`${protocol}://${host}`);
  }
  return origins;
}
