import { createTollgateHandler } from "@tollgate/client";
import { customerFromRequest } from "../../../../lib/session";
import { tollgate } from "../../../../lib/tollgate";

// The browser's side of Tollgate: the signed-in customer's own capabilities, balances, products, checkouts, access
// checks and portal link. The customer id comes from the session, never from the browser's request.
const handler = createTollgateHandler({ tollgate, getCustomerId: customerFromRequest, basePath: "/api/tollgate" });

export { handler as GET, handler as POST };
