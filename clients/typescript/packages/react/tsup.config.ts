import { defineConfig } from "tsup";

// ESM + CJS + .d.ts; "use client" kept at the top so Next.js's App Router treats the hooks as client components.
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  dts: true,
  target: "es2022",
  sourcemap: true,
  clean: true,
  external: ["react", "@tollgate/client"],
  banner: { js: '"use client";' },
});
