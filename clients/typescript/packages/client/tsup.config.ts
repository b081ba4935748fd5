import { defineConfig } from "tsup";

// ESM + CJS + .d.ts for Node 20+ and edge runtimes: no Node built-ins, fetch only.
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  dts: true,
  target: "es2022",
  platform: "neutral",
  sourcemap: true,
  clean: true,
});
