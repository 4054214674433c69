// The agent desktop: find the customer, ask for the next best actions for this interaction,
// record the customer's answer. Keyboard first: Enter, 1-3, Shift+1-3, N, /.

import { ApiError, DASH, ago, api, ensureKey, h, humanize, keyProblem, num, pct, signOut } from "/static/common.js";

const CHANNEL = "call_center";
const LIMIT = 3;
const ID_PATTERN = /^[A-Za-z0-9_.:@-]{1,128}$/;
const TIER_LABELS = {
  most_valuable: "Most valuable",
  growth_potential: "Growth potential",
  below_cost: "Below cost",
};
const FACTS = [
  ["segment", "Segment", humanize],
  ["age_band", "Age", String],
  ["region", "Region", humanize],
  ["tenure_months", "Tenure", (v) => `${num(v)} months`],
  ["monthly_revenue", "Monthly revenue", (v) => num(v, 2)],
  ["clv", "Lifetime value", (v) => num(v)],
  ["contract_months_left", "Contract", (v) => (v === 0 ? "out of contract" : `${num(v)} months left`)],
  ["churn_risk", "Churn risk", (v) => h("span", { class: v >= 0.4 ? "risk-high" : "" }, pct(v, 0))],
  ["recent_complaints", "Recent complaints", (v) => num(v)],
  ["data_usage_gb", "Data use", (v) => `${num(v, 1)} GB / month`],
];
const RESULT_TEXT = { recorded: "recorded", duplicate: "already recorded", late: "recorded late" };

const state = { customerId: null, customer: null, decision: null, done: {}, names: {}, busy: false };
const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- helpers

function showError(message) {
  $("error").hidden = !message;
  $("error").textContent = message || "";
}

let toastTimer;
function toast(message) {
  const el = $("toast");
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 3500);
}

function handle(err) {
  if (err instanceof ApiError && err.status === 401) return signOut();
  showError(keyProblem(err));
}

function tierOf(customer, decision) {
  const given = customer && customer.features && customer.features.value_tier;
  if (given) return String(given);
  for (const offer of (decision && decision.offers) || []) {
    for (const reason of offer.reasons || []) {
      const m = /^customer value tier: (.+)$/.exec(reason);
      if (m) return m[1];
    }
  }
  return null;
}

// ---------------------------------------------------------------- flow

async function advise(event) {
  if (event) event.preventDefault();
  const id = $("customer-id").value.trim();
  if (!ID_PATTERN.test(id)) {
    showError("A customer ID is letters, digits and _ . : @ - (up to 128).");
    $("customer-id").focus();
    return;
  }
  if (state.busy) return;
  state.busy = true;
  $("find").disabled = true;
  showError("");
  try {
    if (id !== state.customerId || !state.customer) {
      state.customerId = id;
      state.customer = null;
      state.decision = null;
      renderActions();
      $("customer").replaceChildren(h("div", { class: "placeholder" }, "Looking up ", id, "…"));
      try {
        state.customer = await api(`/v1/customers/${encodeURIComponent(id)}`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) {
          state.customerId = null;
          $("customer").replaceChildren(h("div", { class: "placeholder" }, h("strong", {}, "Not found"), `No customer with ID ${id}.`));
          $("history").replaceChildren(h("div", { class: "placeholder" }, DASH));
          $("customer-id").select();
          return;
        }
        throw err;
      }
    }
    const interaction = $("interaction").value;
    state.decision = await api("/v1/decisions", {
      method: "POST",
      body: { customer_id: id, channel: CHANNEL, interaction, limit: LIMIT, explain: true },
    });
    state.done = {};
    for (const offer of state.decision.offers) state.names[offer.offer_id] = offer.name;
    renderCustomer();
    renderActions();
    $("actions").focus();
    await loadHistory();
  } catch (err) {
    handle(err);
  } finally {
    state.busy = false;
    $("find").disabled = false;
  }
}

async function record(index, outcome) {
  const decision = state.decision;
  if (!decision || index >= decision.offers.length) return;
  const offer = decision.offers[index];
  if (state.done[offer.offer_id]) return;
  state.done[offer.offer_id] = { outcome, status: "sending" };
  renderActions();
  try {
    const receipt = await api(`/v1/decisions/${encodeURIComponent(decision.decision_id)}/outcomes`, {
      method: "POST",
      body: { offer_id: offer.offer_id, outcome },
    });
    state.done[offer.offer_id] = { outcome, status: receipt.status };
    toast(`${humanize(outcome)}: ${offer.name} (${RESULT_TEXT[receipt.status] || receipt.status})`);
    renderActions();
    await loadHistory(true);
  } catch (err) {
    delete state.done[offer.offer_id];
    renderActions();
    handle(err);
  }
}

async function loadHistory(fresh = false) {
  const id = state.customerId;
  if (!id) return;
  const data = await api(`/v1/customers/${encodeURIComponent(id)}/history?limit=30`);
  if (id === state.customerId) renderHistory(data.items || [], fresh);
}

// ---------------------------------------------------------------- rendering

function renderCustomer() {
  const c = state.customer;
  if (!c) return;
  const f = c.features || {};
  const tier = tierOf(c, state.decision);
  const facts = FACTS.filter(([key]) => f[key] !== undefined && f[key] !== null).flatMap(([key, label, show]) => [
    h("dt", {}, label),
    h("dd", { dataset: { feature: key } }, show(f[key])),
  ]);
  const products = Array.isArray(f.products_held) ? f.products_held : [];
  const consent = Object.entries(c.consent || {});
  $("customer").replaceChildren(
    h(
      "div",
      { class: "customer-head" },
      h("span", { class: "cid" }, c.customer_id),
      tier ? h("span", { class: `badge tier ${tier}`, id: "value-tier" }, TIER_LABELS[tier] || humanize(tier)) : "",
      f.is_student === true ? h("span", { class: "badge" }, "Student") : "",
    ),
    h(
      "dl",
      { class: "facts" },
      facts,
      products.length ? [h("dt", {}, "Products"), h("dd", {}, h("div", { class: "chips" }, products.map((p) => h("span", { class: "chip" }, p))))] : [],
      consent.length
        ? [
            h("dt", {}, "Consent"),
            h(
              "dd",
              {},
              h("div", { class: "chips" }, consent.map(([ch, ok]) => h("span", { class: `chip ${ok ? "pos" : "neg"}` }, `${ok ? "✓" : "✗"} ${ch}`))),
            ),
          ]
        : [],
    ),
    h(
      "details",
      { class: "all-features" },
      h("summary", {}, `All features (${Object.keys(f).length})`),
      h(
        "table",
        {},
        h(
          "tbody",
          {},
          Object.keys(f)
            .sort()
            .map((k) => h("tr", {}, h("td", { class: "mono" }, k), h("td", {}, Array.isArray(f[k]) ? f[k].join(", ") : String(f[k])))),
        ),
      ),
    ),
  );
}

function renderActions() {
  const box = $("actions");
  const meta = $("decision-meta");
  const d = state.decision;
  $("excluded").replaceChildren();
  if (!d) {
    meta.hidden = true;
    $("actions-hint").textContent = "";
    box.replaceChildren(
      h("div", { class: "placeholder" }, h("strong", {}, state.customerId ? "Working…" : "No customer yet"), state.customerId ? "" : "Type a customer ID and press Enter."),
    );
    return;
  }
  meta.hidden = false;
  meta.replaceChildren(
    h("span", {}, humanize(d.interaction)),
    h("span", {}, "·"),
    h("span", {}, `model v${d.model_version}`),
    h("span", { class: "mono", title: "decision id" }, d.decision_id),
    d.control_group ? h("span", { class: "badge warn", title: "chosen at random to measure lift" }, "control group") : "",
    d.degraded ? h("span", { class: "badge bad", title: "the safe fallback answered" }, "degraded") : "",
  );
  $("actions-hint").textContent = d.offers.length ? `for ${d.customer_id}` : "";
  if (!d.offers.length) {
    box.replaceChildren(h("div", { class: "placeholder" }, h("strong", {}, "Nothing to offer"), "No offer or service action is eligible for this interaction."));
  } else {
    box.replaceChildren(...d.offers.map((offer, i) => actionCard(offer, i)));
  }
  const excluded = d.excluded || [];
  if (excluded.length) {
    $("excluded").replaceChildren(
      h(
        "details",
        { class: "excluded" },
        h("summary", {}, `Why not the others? ${excluded.length} not offered`),
        h(
          "ul",
          {},
          excluded.map((x) => h("li", {}, h("span", { class: "mono" }, x.offer_id), ` — ${x.stage}: ${x.reason}`)),
        ),
      ),
    );
  }
}

function actionCard(offer, i) {
  const done = state.done[offer.offer_id];
  const n = i + 1;
  const human = (offer.reasons || []).filter((r) => !/^[PVLC]=/.test(r));
  const score = (offer.reasons || []).filter((r) => /^[PVLC]=/.test(r));
  const classes = ["action", i === 0 ? "top" : "", done && done.status !== "sending" ? `done-${done.outcome}` : ""];
  let controls;
  if (done) {
    const ok = done.outcome === "accepted";
    controls = h(
      "span",
      { class: `result badge ${ok ? "good" : "bad"}`, role: "status" },
      done.status === "sending" ? `${humanize(done.outcome)}…` : `${ok ? "✓ Accepted" : "✗ Declined"} · ${RESULT_TEXT[done.status] || done.status}`,
    );
  } else {
    controls = [
      h("button", { type: "button", class: "accept", onclick: () => record(i, "accepted"), dataset: { outcome: "accepted" } }, "Accept", h("kbd", {}, n)),
      h("button", { type: "button", class: "decline", onclick: () => record(i, "declined"), dataset: { outcome: "declined" } }, "Decline", h("kbd", {}, `⇧${n}`)),
    ];
  }
  return h(
    "article",
    { class: classes.filter(Boolean).join(" "), dataset: { offerId: offer.offer_id, rank: n } },
    h("span", { class: "rank", "aria-hidden": "true" }, n),
    h(
      "div",
      { class: "title" },
      h("span", { class: "name" }, offer.name || offer.offer_id),
      h("span", { class: `badge ${offer.kind}` }, offer.kind === "service" ? "Service action" : "Offer"),
      offer.explored ? h("span", { class: "badge", title: "shown to learn, not the current best guess" }, "exploring") : "",
    ),
    h(
      "div",
      { class: "facts" },
      h("span", {}, "Likelihood ", h("strong", {}, pct(offer.propensity))),
      h("span", {}, "Value ", h("strong", {}, num(offer.value))),
      h("span", {}, "Priority ", h("strong", {}, num(offer.priority, 2))),
      h("span", { class: "mono" }, offer.offer_id),
    ),
    human.length ? h("ul", { class: "reasons" }, human.map((r) => h("li", {}, r))) : "",
    score.length ? h("details", {}, h("summary", {}, "Score breakdown"), h("span", { class: "mono" }, score.join("  ·  "))) : "",
    h("div", { class: "buttons" }, controls),
  );
}

function historyLine(item) {
  const name = (id) => state.names[id] || id;
  if (item.type === "decision") {
    return {
      cls: "decision",
      what: `Advised · ${humanize(item.interaction || "")} (${item.channel || "?"})`,
      detail: (item.offers || []).map(name).join(", ") || "nothing eligible",
    };
  }
  if (item.type === "outcome") {
    return {
      cls: `outcome-${item.outcome}`,
      what: `${humanize(item.outcome || "")}: ${name(item.offer_id)}`,
      detail: item.late ? "after the response window" : "",
    };
  }
  if (item.type === "event") {
    return { cls: "event", what: `Event · ${humanize(item.event_type || "")}${item.name ? ` (${item.name})` : ""}`, detail: "" };
  }
  return { cls: "other", what: humanize(item.type || "entry"), detail: "" };
}

function renderHistory(items, fresh) {
  if (!items.length) {
    $("history").replaceChildren(h("div", { class: "placeholder" }, "No history yet"));
    return;
  }
  $("history").replaceChildren(
    h(
      "ol",
      { class: "history" },
      items.map((item, i) => {
        const line = historyLine(item);
        return h(
          "li",
          { class: `${line.cls}${fresh && i === 0 ? " fresh" : ""}`, dataset: { type: item.type || "" } },
          h("span", {}, h("div", { class: "what" }, line.what), line.detail ? h("div", { class: "detail" }, line.detail) : ""),
          h("time", { datetime: item.at || "", title: item.at || "" }, ago(item.at)),
        );
      }),
    ),
  );
}

// ---------------------------------------------------------------- keyboard

function onKey(event) {
  const t = event.target;
  const typing = t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLTextAreaElement;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "/" && !typing) {
    event.preventDefault();
    $("customer-id").focus();
    $("customer-id").select();
    return;
  }
  if (typing) return;
  const digit = /^(?:Digit|Numpad)([1-9])$/.exec(event.code);
  if (digit && state.decision) {
    event.preventDefault();
    record(Number(digit[1]) - 1, event.shiftKey ? "declined" : "accepted");
    return;
  }
  if ((event.key === "n" || event.key === "N") && state.customerId) {
    event.preventDefault();
    advise();
  }
}

async function start() {
  $("sign-out").addEventListener("click", signOut);
  $("actions").setAttribute("tabindex", "-1");
  await ensureKey({
    title: "Agent desktop",
    role: "channel",
    // a read any agent key may do, and that changes nothing: an empty history
    check: () => api("/v1/customers/_/history?limit=1"),
  });
  $("search").addEventListener("submit", advise);
  document.addEventListener("keydown", onKey);
  $("customer-id").focus();
}

start();
