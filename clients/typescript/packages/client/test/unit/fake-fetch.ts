// A scripted fetch: each call takes the next step (a Response to answer, an Error to throw, or "hang" to wait until aborted).
export type Step = Response | Error | "hang" | ((request: Request) => Response | Promise<Response>);

export interface Recorded {
  method: string;
  url: string;
  headers: Headers;
  body: string | undefined;
}

export function fakeFetch(...steps: Step[]) {
  const calls: Recorded[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    calls.push({
      method: request.method,
      url: request.url,
      headers: request.headers,
      body: typeof init?.body === "string" ? init.body : undefined,
    });
    const step = steps.shift();
    if (step === undefined) throw new Error(`fake fetch: no step left for call ${calls.length}`);
    if (step === "hang") {
      return await new Promise<Response>((_, reject) => {
        init?.signal?.addEventListener("abort", () => reject(init.signal!.reason), { once: true });
      });
    }
    if (step instanceof Error) throw step;
    if (typeof step === "function") return await step(request);
    return step;
  };
  return { fetch: fetch as typeof globalThis.fetch, calls, left: () => steps.length };
}

export function ok(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

export function problem(status: number, code: string, detail = `detail of ${code}`): Response {
  return new Response(JSON.stringify({ type: `https://tollgate.dev/problems/${code}`, title: `title of ${code}`, status, detail, code }), {
    status,
    headers: { "Content-Type": "application/problem+json" },
  });
}
