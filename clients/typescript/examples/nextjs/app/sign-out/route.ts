import { NextResponse } from "next/server";
import { sessionCookieName } from "../../lib/session";

export async function POST(): Promise<Response> {
  const response = seeOther("/");
  response.cookies.delete(sessionCookieName);
  return response;
}

// A relative Location: the browser stays on the host it used (next start may know itself as localhost only).
function seeOther(location: string): NextResponse {
  return new NextResponse(null, { status: 303, headers: { Location: location } });
}
