import "server-only";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { cookies } from "next/headers";

// A sign-in stub: the "user" is whoever typed a name, remembered in a signed cookie. A real app has Better Auth,
// NextAuth, Clerk… there, getCustomerId reads that session instead; nothing else changes.
const cookieName = "demo_session";
const secret = process.env.SESSION_SECRET ?? randomBytes(32).toString("hex");

export function customerIdFor(name: string): string {
  const slug = name.trim().toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 40);
  return `demo_${slug || "user"}`;
}

export function sessionCookie(customerId: string): { name: string; value: string } {
  return { name: cookieName, value: `${customerId}.${sign(customerId)}` };
}

export const sessionCookieName = cookieName;

/** The signed-in customer's id from a request's cookie, or null. */
export function customerFromRequest(request: Request): string | null {
  const header = request.headers.get("cookie") ?? "";
  const value = header
    .split(";")
    .map((part) => part.trim())
    .find((part) => part.startsWith(`${cookieName}=`))
    ?.slice(cookieName.length + 1);
  return verify(value === undefined ? undefined : decodeURIComponent(value));
}

/** The same, for server components. */
export async function currentCustomer(): Promise<string | null> {
  return verify((await cookies()).get(cookieName)?.value);
}

function verify(value: string | undefined): string | null {
  if (!value) return null;
  const dot = value.lastIndexOf(".");
  if (dot <= 0) return null;
  const id = value.slice(0, dot);
  const given = Buffer.from(value.slice(dot + 1));
  const expected = Buffer.from(sign(id));
  return given.length === expected.length && timingSafeEqual(given, expected) ? id : null;
}

function sign(id: string): string {
  return createHmac("sha256", secret).update(id).digest("base64url");
}
