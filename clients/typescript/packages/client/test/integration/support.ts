import { randomUUID } from "node:crypto";
import { createServer, request as httpRequest, type Server } from "node:http";
import { inject } from "vitest";
import { type Checkout, Tollgate } from "../../src/index.js";

export const server = () => inject("tollgate");

export function tollgate(options: Partial<ConstructorParameters<typeof Tollgate>[0]> = {}) {
  const { url, secretKey } = server();
  return new Tollgate({ baseUrl: url, secretKey, retryDelayMs: 20, ...options });
}

export function newCustomerId() {
  return `ts_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
}

/** Pays a Sandbox checkout page as its form would (test card 4242 4242 4242 4242 unless told otherwise). */
export async function paySandbox(checkoutUrl: string, card = "4242 4242 4242 4242"): Promise<number> {
  const response = await fetch(checkoutUrl, {
    method: "POST",
    body: new URLSearchParams({ card }),
    redirect: "manual",
  });
  await response.arrayBuffer();
  return response.status;
}

/** Polls the checkout until the Sandbox's signed webhook has been applied (or it failed). */
export async function settled(client: Tollgate, checkoutId: string, timeoutMs = 20_000): Promise<Checkout> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const checkout = await client.checkouts.get({ checkoutId });
    if (checkout.status !== "open") return checkout;
    if (Date.now() > deadline) throw new Error(`checkout ${checkoutId} still open after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A proxy in front of the server that forwards every request but, for requests `dropAnswer` picks, throws the
 * server's answer away and cuts the connection: the effect happened, the caller never heard of it.
 */
export async function lossyProxy(target: string, dropAnswer: (method: string, path: string, index: number) => boolean) {
  const upstream = new URL(target);
  let index = 0;
  const seen: { method: string; path: string; key: string | undefined; dropped: boolean; status: number }[] = [];
  const proxy: Server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on("data", (c: Buffer) => chunks.push(c));
    incoming.on("end", () => {
      const drop = dropAnswer(incoming.method!, incoming.url!, index++);
      const forward = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: incoming.method, path: incoming.url, headers: { ...incoming.headers, host: upstream.host } },
        (answer) => {
          const body: Buffer[] = [];
          answer.on("data", (c: Buffer) => body.push(c));
          answer.on("end", () => {
            seen.push({
              method: incoming.method!,
              path: incoming.url!,
              key: incoming.headers["idempotency-key"] as string | undefined,
              dropped: drop,
              status: answer.statusCode!,
            });
            if (drop) {
              incoming.socket.destroy();
              return;
            }
            outgoing.writeHead(answer.statusCode!, answer.headers);
            outgoing.end(Buffer.concat(body));
          });
        },
      );
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const address = proxy.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    seen,
    close: () => new Promise<void>((resolve) => proxy.close(() => resolve())),
  };
}
