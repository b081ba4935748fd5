import { defineConfig } from "vitest/config";

// One `npm test` for everything; each project can also run alone: `npx vitest run --project client-unit`.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "client-unit",
          include: ["packages/client/test/unit/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "client-integration",
          include: ["packages/client/test/integration/**/*.test.ts"],
          environment: "node",
          // A real Tollgate server (SQLite unless TOLLGATE_TEST_DATABASE_* say otherwise; the Sandbox), started once: scripts/tollgate-server.mjs.
          globalSetup: ["packages/client/test/integration/global-setup.ts"],
          testTimeout: 30_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          // The built packages as an app installs them (needs npm run build first, like example-e2e).
          name: "packages",
          include: ["packages/client/test/package/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "react",
          include: ["packages/react/test/**/*.test.tsx"],
          environment: "happy-dom",
        },
      },
      {
        test: {
          name: "example-e2e",
          include: ["examples/nextjs/e2e/**/*.test.ts"],
          environment: "node",
          globalSetup: ["examples/nextjs/e2e/global-setup.ts"],
          testTimeout: 90_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
