import { TollgateProvider } from "@tollgate/react";
import { currentCustomer } from "../lib/session";
import { configured } from "../lib/tollgate";
import { Dashboard } from "./dashboard";

export const dynamic = "force-dynamic";

export default async function Home({ searchParams }: { searchParams: Promise<Record<string, string | undefined>> }) {
  const customerId = await currentCustomer();
  const { error } = await searchParams;
  if (!configured) {
    return (
      <section>
        <h1>Tollgate × Next.js</h1>
        <p className="error">Set TOLLGATE_SECRET_KEY (and TOLLGATE_URL unless the server is at http://localhost:5080): see README.md.</p>
      </section>
    );
  }
  if (!customerId) {
    return (
      <section>
        <h1>Tollgate × Next.js</h1>
        <p>A sign-in stub: any name signs you in as that customer.</p>
        <form action="/sign-in" method="post">
          <label htmlFor="name">Your name </label>
          <input id="name" name="name" required maxLength={60} placeholder="Alice" /> <button type="submit">Sign in</button>
        </form>
        {error === "name" && <p className="error">Type a name first.</p>}
      </section>
    );
  }
  return (
    <>
      <header>
        <h1>Tollgate × Next.js</h1>
        <form action="/sign-out" method="post">
          <span className="muted" data-testid="customer">{customerId}</span> <button className="secondary" type="submit">Sign out</button>
        </form>
      </header>
      <TollgateProvider basePath="/api/tollgate">
        <Dashboard />
      </TollgateProvider>
    </>
  );
}
