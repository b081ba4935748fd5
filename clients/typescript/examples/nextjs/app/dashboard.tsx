"use client";

import { FeatureGate, useAccessAndCheckout, useCheckout, useCustomer, useFeature, useProducts } from "@tollgate/react";
import { useState } from "react";

function money(price: { amount: number; currency: string } | undefined) {
  return price ? new Intl.NumberFormat("en", { style: "currency", currency: price.currency }).format(price.amount / 100) : "";
}

export function Dashboard() {
  return (
    <>
      <Pricing />
      <HdExport />
      <Credits />
      <AiMessage />
      <Account />
    </>
  );
}

/** The plans and packs for sale; packs are bought outright, and back here the checkout is confirmed. */
function Pricing() {
  const { products, error } = useProducts();
  const checkout = useCheckout();
  return (
    <section aria-labelledby="pricing">
      <h2 id="pricing">Pricing</h2>
      {error && <p className="error">Prices are unavailable: {error.detail ?? error.message}</p>}
      {checkout.status === "confirming" && <p role="status">Confirming your payment…</p>}
      {checkout.status === "error" && <p className="error">{checkout.error?.detail ?? checkout.error?.message}</p>}
      {checkout.checkout?.status === "completed" && checkout.status === "idle" && (
        <p className="ok" role="status">Payment received: {checkout.checkout.granted?.credits ?? 0} credits added.</p>
      )}
      <div className="cards">
        {products?.plans
          .filter((plan) => !plan.default)
          .map((plan) => (
            <div className="card" key={plan.id}>
              <strong>{plan.name}</strong>
              <div className="muted">
                {money(plan.price)} / {plan.interval}
              </div>
            </div>
          ))}
        {products?.packs.map((pack) => (
          <div className="card" key={pack.id} data-pack={pack.id}>
            <strong>{pack.name}</strong>
            <div className="muted">
              {pack.credits} credits · {money(pack.price)}
            </div>
            <button type="button" disabled={pack.eligible === false || checkout.status !== "idle"} onClick={() => void checkout.buy(pack.id)}>
              {pack.eligible === false ? "Bought" : `Buy ${pack.name}`}
            </button>
          </div>
        ))}
      </div>
    </section>
  );
}

/** A paid action behind a plan: check → ensure → checkout → back → confirmed → unlocked. */
function HdExport() {
  const access = useAccessAndCheckout({ capability: "feature:hd_export", product: "pro" });
  const [exported, setExported] = useState(false);
  return (
    <section aria-labelledby="export">
      <h2 id="export">HD export</h2>
      {access.status === "loading" && <p className="muted">Checking your plan…</p>}
      {access.status === "confirming" && <p role="status">Confirming your upgrade…</p>}
      {access.status === "error" && <p className="error">{access.error?.detail ?? access.error?.message}</p>}
      {access.hasAccess === true && (
        <button type="button" onClick={() => setExported(true)}>
          Export in HD
        </button>
      )}
      {access.hasAccess === false && access.status !== "confirming" && (
        <button type="button" disabled={access.isLoading} onClick={() => void access.startCheckout()}>
          Unlock HD export with Pro
        </button>
      )}
      {exported && <p className="ok">Exported in 4K.</p>}
    </section>
  );
}

/** A gate on a balance: shown only while there are credits to spend. */
function Credits() {
  const credits = useFeature("credits");
  return (
    <section aria-labelledby="credits">
      <h2 id="credits">Video rendering</h2>
      <FeatureGate feature="credits" loading={<p className="muted">Checking your credits…</p>} fallback={<p data-testid="no-credits">You have no credits: buy a pack above.</p>}>
        <p data-testid="credits-open">
          You have <strong>{credits.balance?.available}</strong> credits. <button type="button">Render a video</button>
        </p>
      </FeatureGate>
    </section>
  );
}

/** Usage charged on the app's server (the browser never talks to Tollgate with a key). */
function AiMessage() {
  const { balance, refresh } = useCustomer();
  const [answer, setAnswer] = useState<string>();
  const [busy, setBusy] = useState(false);
  const messages = balance("ai_messages");
  async function send() {
    setBusy(true);
    try {
      const response = await fetch("/api/ai-message", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ messageId: crypto.randomUUID(), text: "Hello" }),
      });
      const body = (await response.json()) as { reply?: string; remaining?: number; code?: string };
      setAnswer(response.ok ? `${body.reply} (${body.remaining} left)` : `Refused: ${body.code}`);
      await refresh();
    } finally {
      setBusy(false);
    }
  }
  return (
    <section aria-labelledby="ai">
      <h2 id="ai">AI messages</h2>
      {messages && (
        <p className="muted" data-testid="ai-left">
          {messages.available} of {messages.limit} left this month
        </p>
      )}
      <button type="button" disabled={busy} onClick={() => void send()}>
        Send an AI message
      </button>
      {answer && <p data-testid="ai-answer">{answer}</p>}
    </section>
  );
}

function Account() {
  const { openPortal, capabilities } = useCustomer();
  return (
    <section aria-labelledby="account">
      <h2 id="account">Account</h2>
      <p className="muted" data-testid="capabilities">{capabilities?.join(" · ")}</p>
      <button type="button" className="secondary" onClick={() => void openPortal()}>
        Billing portal
      </button>
    </section>
  );
}
