export { BrowserApi } from "./api.js";
export {
  type AccessAndCheckout,
  type AccessStatus,
  type CheckoutState,
  type CheckoutStatus,
  type CustomerState,
  FeatureGate,
  type FeatureGateProps,
  type FeatureState,
  type ProductsState,
  ReturnParameter,
  useAccessAndCheckout,
  useCheckout,
  useCustomer,
  useFeature,
  useProducts,
} from "./hooks.js";
export { type CheckoutStorage, type LoadStatus, type TollgateContextValue, TollgateProvider, type TollgateProviderProps } from "./provider.js";
