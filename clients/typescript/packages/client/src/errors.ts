import type { Problem, ProblemCode } from "./types.js";

/** Codes the client itself gives when no answer came: the network failed, or the call timed out. */
export type ClientErrorCode = "network_error" | "timeout" | "unexpected_response";

/**
 * A refusal or failure of a Tollgate call: `status` and `code` from the server's problem+json (`quota_exceeded`,
 * `insufficient_balance`, …), or status 0 and a {@link ClientErrorCode} when no answer came.
 */
export class TollgateError extends Error {
  override readonly name = "TollgateError";
  /** The HTTP status; 0 when no response arrived. */
  readonly status: number;
  /** The stable code of the problem. */
  readonly code: ProblemCode | ClientErrorCode | (string & {});
  /** The server's explanation of this occurrence, when it gave one. */
  readonly detail: string | undefined;
  /** The problem+json body as the server sent it. */
  readonly problem: Problem | undefined;

  constructor(status: number, code: string, message: string, options: { detail?: string; problem?: Problem; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.code = code;
    this.detail = options.detail;
    this.problem = options.problem;
  }

  /** The error for an HTTP answer that is not a success. */
  static fromResponse(status: number, body: string): TollgateError {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
    if (isProblem(parsed)) {
      return new TollgateError(status, parsed.code, `${parsed.title}${parsed.detail ? ` ${parsed.detail}` : ""} (${parsed.code})`, {
        detail: parsed.detail,
        problem: parsed,
      });
    }
    const snippet = body.length > 200 ? `${body.slice(0, 200)}…` : body;
    return new TollgateError(status, "unexpected_response", `Tollgate answered ${status} without a problem body: ${snippet}`, { detail: snippet });
  }
}

/** True when `error` is a {@link TollgateError}, and of `code` when one is given. */
export function isTollgateError(error: unknown, code?: TollgateError["code"]): error is TollgateError {
  return error instanceof TollgateError && (code === undefined || error.code === code);
}

function isProblem(value: unknown): value is Problem {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Problem).code === "string" &&
    typeof (value as Problem).status === "number" &&
    typeof (value as Problem).title === "string"
  );
}
