import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";

// What an app installs: the built packages (npm run build), resolved by name through their "exports", as ESM (import)
// and as CommonJS (require), with their type declarations; the client with nothing Node-only, so edge runtimes load it.
const require = createRequire(import.meta.url);
const packages = {
  "@tollgate/client": ["Tollgate", "TollgateError", "createTollgateHandler", "isTollgateError"],
  "@tollgate/react": ["TollgateProvider", "FeatureGate", "useCustomer", "useFeature", "useAccessAndCheckout", "useCheckout", "useProducts"],
} as const;

function dist(name: string): string {
  // The entry "require" resolves to is dist/index.cjs (checked below); its folder holds every built file.
  return dirname(require.resolve(name));
}

function read(name: string, file: string): string {
  try {
    return readFileSync(join(dist(name), file), "utf8");
  } catch (error) {
    throw new Error(`${name}: dist/${file} is missing; run npm run build first`, { cause: error });
  }
}

describe.each(Object.entries(packages))("%s as installed", (name, exports) => {
  it("LoadsAsEsmAndAsCommonJs_WithTheSameExports", async () => {
    const esm = (await import(name)) as Record<string, unknown>;
    const cjs = require(name) as Record<string, unknown>;

    for (const symbol of exports) {
      expect(typeof esm[symbol], `ESM ${symbol}`).toBe("function");
      expect(typeof cjs[symbol], `CommonJS ${symbol}`).toBe("function");
    }
    expect(Object.keys(cjs).sort()).toEqual(Object.keys(esm).filter((k) => k !== "default").sort());
    expect(require.resolve(name)).toMatch(/dist[\\/]index\.cjs$/);
  });

  it("ShipsTypeDeclarations_ForBothFormats", () => {
    for (const file of ["index.d.ts", "index.d.cts"]) {
      const declarations = read(name, file);
      for (const symbol of exports) expect(declarations, `${file} declares ${symbol}`).toMatch(new RegExp(`\\b${symbol}\\b`));
    }
  });
});

describe("@tollgate/client on edge runtimes", () => {
  it("ImportsNoNodeBuiltIns_InEitherFormat", () => {
    // Cloudflare Workers and Vercel's edge runtime have fetch, crypto.randomUUID and AbortSignal, not Node's modules.
    const nodeOnly = /(?:from\s*|import\s*\(\s*|require\s*\(\s*)["'](?:node:[\w/]+|fs|path|os|http|https|net|tls|crypto|stream|buffer|child_process|zlib|url|util)["']/;
    for (const file of ["index.js", "index.cjs"]) {
      const bundle = read("@tollgate/client", file);
      expect(bundle.length).toBeGreaterThan(1000);
      expect(bundle).not.toMatch(nodeOnly);
    }
  });
});

describe("@tollgate/react", () => {
  it("IsAClientComponentBundle_InBothFormats", () => {
    for (const file of ["index.js", "index.cjs"]) expect(read("@tollgate/react", file).trimStart()).toMatch(/^["']use client["'];/);
  });
});
