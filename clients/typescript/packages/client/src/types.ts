// Names for the generated OpenAPI types: what the server answers, field for field (snake_case, as on the wire).
import type { components, operations } from "./generated/openapi.js";

type Schemas = components["schemas"];

export type Customer = Schemas["CustomerView"];
export type Members = Schemas["MembersView"];
export type Member = Schemas["MemberView"];
export type Capabilities = Schemas["CapabilitiesView"];
export type CheckResult = Schemas["CheckView"];
export type BalanceSummary = Schemas["BalanceSummary"];
export type UsageResult = Schemas["UsageView"];
export type UsageReversal = Schemas["ReverseView"];
export type Hold = Schemas["HoldView"];
export type SettleResult = Schemas["SettleView"];
export type ReleaseResult = Schemas["ReleaseView"];
export type Grant = Schemas["GrantView"];
export type Balances = Schemas["BalancesView"];
export type Balance = Schemas["BalanceView"];
export type Lot = Schemas["LotView"];
export type Ledger = Schemas["LedgerView"];
export type LedgerEntry = Schemas["EntryView"];
export type Subscriptions = Schemas["SubscriptionsView"];
export type Subscription = Schemas["SubscriptionView"];
export type Products = Schemas["ProductsView"];
export type Plan = Schemas["PlanView"];
export type Pack = Schemas["PackView"];
export type Price = Schemas["PriceView"];
export type Checkout = Schemas["CheckoutView"];
export type CheckoutStatus = Checkout["status"];
export type EnsureResult = Schemas["EnsureView"];
export type PortalLink = Schemas["PortalView"];
export type Problem = Schemas["Problem"];

type ResponsesOf<Op> = Op extends { responses: infer R } ? R : never;
type ProblemIn<R> = R extends { content: { "application/problem+json": infer P } } ? P : never;
type CodesOf<Op> = ProblemIn<ResponsesOf<Op>[keyof ResponsesOf<Op>]> extends infer P ? (P extends { code: infer C } ? C : never) : never;

/** Every problem code the server's OpenAPI document declares, on any operation. */
export type ProblemCode = { [K in keyof operations]: CodesOf<operations[K]> }[keyof operations];

/** The problem codes one operation declares (e.g. `OperationProblemCode<"usage">`). */
export type OperationProblemCode<K extends keyof operations> = CodesOf<operations[K]>;
