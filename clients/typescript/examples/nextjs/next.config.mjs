import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const workspace = join(dirname(fileURLToPath(import.meta.url)), "../..");

/** @type {import('next').NextConfig} */
export default {
  // The packages and next itself live in the npm workspace's node_modules, two folders up.
  turbopack: { root: workspace },
  outputFileTracingRoot: workspace,
  poweredByHeader: false,
};
