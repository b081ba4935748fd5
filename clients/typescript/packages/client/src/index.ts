export { Tollgate, type Keyed, type TollgateOptions } from "./client.js";
export { type ClientErrorCode, isTollgateError, TollgateError } from "./errors.js";
export { createTollgateHandler, type TollgateHandler, type TollgateHandlerOptions } from "./handler.js";
export type { CallOptions } from "./http.js";
export type * from "./types.js";
export type { components, operations, paths } from "./generated/openapi.js";
