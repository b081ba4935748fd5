import { NextResponse } from "next/server";
import { customerIdFor, sessionCookie } from "../../lib/session";
import { tollgate } from "../../lib/tollgate";

export async function POST(request: Request): Promise<Response> {
  const form = await request.formData();
  const name = String(form.get("name") ?? "").trim().slice(0, 60);
  if (!name) return seeOther("/?error=name");
  const customerId = customerIdFor(name);
  // The app tells Tollgate who its customer is (name, email for receipts); fields it leaves out keep their value.
  await tollgate.customers.upsert({ customerId, name, email: `${customerId}@example.com` });
  const response = seeOther("/");
  const cookie = sessionCookie(customerId);
  response.cookies.set(cookie.name, cookie.value, { httpOnly: true, sameSite: "lax", path: "/" });
  return response;
}

// A relative Location: the browser stays on the host it used (next start may know itself as localhost only).
function seeOther(location: string): NextResponse {
  return new NextResponse(null, { status: 303, headers: { Location: location } });
}
