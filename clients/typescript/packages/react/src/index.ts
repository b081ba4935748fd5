export { BrowserApi } from "./api.js";
export {
  type AccessAndCheckout,
  type AccessStatus,
  type CustomerState,
  FeatureGate,
  type FeatureGateProps,
  type FeatureState,
  ReturnParameter,
  useAccessAndCheckout,
  useCustomer,
  useFeature,
} from "./hooks.js";
export { type CheckoutStorage, type LoadStatus, type TollgateContextValue, TollgateProvider, type TollgateProviderProps } from "./provider.js";
