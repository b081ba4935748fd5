import { isTollgateError } from "@tollgate/client";
import { customerFromRequest } from "../../../lib/session";
import { tollgate } from "../../../lib/tollgate";

/** Sends an AI message, charged server-side: one `ai_messages`, keyed by the message id so a retry charges once. */
export async function POST(request: Request): Promise<Response> {
  const customerId = customerFromRequest(request);
  if (!customerId) return Response.json({ code: "unauthenticated" }, { status: 401 });
  const { messageId, text } = (await request.json().catch(() => ({}))) as { messageId?: unknown; text?: unknown };
  if (typeof messageId !== "string" || !/^[A-Za-z0-9_-]{8,64}$/.test(messageId) || typeof text !== "string" || text.length > 2000) {
    return Response.json({ code: "invalid_request", detail: "messageId (8–64 of A-Za-z0-9_-) and text are required." }, { status: 400 });
  }
  try {
    // Charge first, answer after: a refusal means no model call is made.
    const charge = await tollgate.usage({ customerId, feature: "ai_messages", amount: 1, idempotencyKey: `ai-${customerId}-${messageId}` });
    return Response.json({ reply: `Echo: ${text}`, remaining: charge.remaining });
  } catch (error) {
    if (isTollgateError(error) && error.status === 402) {
      return Response.json({ code: error.code, detail: error.detail }, { status: 402 });
    }
    throw error;
  }
}
