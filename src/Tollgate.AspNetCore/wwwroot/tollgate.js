// Tollgate pages: the one script (no inline scripts: the pages' Content-Security-Policy allows only this file).

// A receipt's Print button prints the page.
for (const button of document.querySelectorAll("[data-print]")) {
  button.addEventListener("click", () => window.print());
}

// The checkout return page asks for the checkout's status until the provider's
// webhook has been applied, then shows what was granted. It only displays; it never grants anything.
(() => {
  "use strict";
  const box = document.querySelector("[data-status-url]");
  if (!box || box.dataset.status !== "open") {
    return;
  }

  let tries = 0;
  const show = (status) => {
    box.dataset.status = status;
    for (const part of box.querySelectorAll("[data-when]")) {
      part.hidden = part.dataset.when !== status;
    }
  };

  const poll = async () => {
    tries += 1;
    try {
      const response = await fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" });
      if (response.ok) {
        const data = await response.json();
        if (data.status && data.status !== "open") {
          const granted = box.querySelector("[data-granted]");
          granted.replaceChildren(...(data.granted || []).map((text) => {
            const item = document.createElement("li");
            item.textContent = text;
            return item;
          }));
          const paid = box.querySelector("[data-paid]");
          paid.textContent = data.paid || "";
          paid.hidden = !data.paid;
          const failure = box.querySelector("[data-failure]");
          failure.textContent = data.failure || "";
          show(data.status);
          return;
        }
      }
    } catch (error) {
      // A network hiccup: ask again on the next round.
      console.debug("checkout status", error);
    }

    const waited = Date.now() - started;
    if (waited >= 15000) {
      box.querySelector("[data-slow]").hidden = false;
    }
    // Two minutes without an answer: stop asking and say what to do, rather than spin for ever.
    if (waited < 120000) {
      setTimeout(poll, tries < 30 ? 1000 : 5000);
    } else {
      show("stalled");
    }
  };

  let started = Date.now();
  box.querySelector("[data-check-again]").addEventListener("click", () => {
    tries = 0;
    started = Date.now();
    box.querySelector("[data-slow]").hidden = true;
    show("open");
    poll();
  });
  setTimeout(poll, 500);
})();
