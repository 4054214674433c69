// The analysts' dashboard: polls /v1/metrics/learning (and /v1/models, /v1/offers for names) and
// draws acceptance over time, lift, calibration, drivers and the per-offer table.

import {
  ApiError, COLORS, DASH, api, calibrationChart, clockTime, driversChart, ensureKey, fixed, h,
  keyProblem, liftChart, lineChart, num, pct, signOut,
} from "/static/common.js";

const POLL_MS = 4000;
const NAMES_EVERY_MS = 60000;

const state = {
  metrics: null,
  models: null,
  names: {},
  namesAt: 0,
  sort: { key: "impressions", asc: false },
  selected: null,
  channels: [],
};

const $ = (id) => document.getElementById(id);

function setText(id, text) {
  $(id).textContent = text;
}

// ---------------------------------------------------------------- data

async function optional(path) {
  try {
    return await api(path);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) throw err;
    return null; // an older server without this endpoint, or a role that may not read it
  }
}

async function refresh() {
  if (document.hidden) return schedule();
  try {
    const [metrics, models] = await Promise.all([api(metricsPath()), optional("/v1/models")]);
    if (Date.now() - state.namesAt > NAMES_EVERY_MS) {
      const offers = await optional("/v1/offers");
      if (Array.isArray(offers)) {
        state.names = Object.fromEntries(offers.map((o) => [o.offer_id, o.name]));
        renderChannels([...new Set(offers.flatMap((o) => o.channels || []))].sort());
      }
      state.namesAt = Date.now();
    }
    state.metrics = metrics;
    state.models = models;
    $("error").hidden = true;
    render();
    const live = $("live");
    live.classList.remove("stale");
    live.textContent = `live · updated ${clockTime(new Date())}`;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return signOut();
    $("error").hidden = false;
    $("error").textContent = `Could not refresh: ${keyProblem(err)}`;
    $("live").classList.add("stale");
    $("live").textContent = "reconnecting…";
  }
  schedule();
}

// The filters: a channel or a time window makes the server answer from the SQL interaction
// archive instead of the live counters (the response says which, in "source").
function metricsPath() {
  const params = new URLSearchParams();
  const channel = $("filter-channel").value;
  const hours = Number($("filter-window").value);
  if (channel) params.set("channel", channel);
  if (hours) params.set("since", new Date(Date.now() - hours * 3600 * 1000).toISOString());
  const query = params.toString();
  return query ? `/v1/metrics/learning?${query}` : "/v1/metrics/learning";
}

function renderChannels(channels) {
  if (channels.join() === state.channels.join()) return;
  state.channels = channels;
  const select = $("filter-channel");
  const current = select.value;
  select.replaceChildren(h("option", { value: "" }, "all channels"), ...channels.map((c) => h("option", { value: c }, c)));
  select.value = channels.includes(current) ? current : "";
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(refresh, POLL_MS);
}

// ---------------------------------------------------------------- rendering

function render() {
  const m = state.metrics;
  if (!m) return;
  renderHeader(m);
  renderKpis(m);
  renderTimeline(m);
  renderLift(m.lift);
  renderModels(state.models);
  calibrationChart($("calibration"), m.calibration);
  renderDriverChoices(m.offers || []);
  renderDrivers();
  renderTable(m.offers || []);
}

function renderHeader(m) {
  setText("model-version", `v${m.model_version}`);
  const pinned = state.models && state.models.pinned_version;
  $("model-pin").hidden = !pinned;
  if (pinned) $("model-pin").textContent = `pinned to v${pinned}`;
}

function renderKpis(m) {
  const model = m.model || {};
  const control = m.control || {};
  setText("kpi-model", pct(model.acceptance_rate));
  setText("kpi-model-sub", model.decisions !== undefined ? `accepted ${num(model.accepted)} of ${num(model.decisions)}` : "");
  setText("kpi-control", pct(control.acceptance_rate));
  setText("kpi-control-sub", control.decisions !== undefined ? `accepted ${num(control.accepted)} of ${num(control.decisions)}` : "");
  const lift = m.lift || {};
  setText("kpi-lift", lift.value === null || lift.value === undefined ? DASH : `${fixed(lift.value)}×`);
  setText("kpi-lift-sub", lift.ci_low === null || lift.ci_low === undefined ? "95% CI —" : `95% CI ${fixed(lift.ci_low)}–${fixed(lift.ci_high)}`);
  const op = m.off_policy;
  setText("kpi-offpolicy", op ? pct(op.snips.value) : DASH);
  setText(
    "kpi-offpolicy-sub",
    op ? `95% CI ${pct(op.snips.ci_low)}–${pct(op.snips.ci_high)} · ${num(op.matched)} of ${num(op.control_decisions)} control decisions` : "no control decisions archived yet",
  );
  setText("filter-source", m.source === "archive" ? "from the interaction archive (resolved impressions, exact AUC)" : "live counters");
  setText("kpi-auc", fixed(m.auc, 3));
  setText("kpi-explore", pct(m.exploration_share));
  setText("kpi-learned", num(m.outcomes_learned));
  setText("kpi-learned-sub", `into model v${m.model_version}`);
}

function renderTimeline(m) {
  const rows = (m.timeline || []).map((r) => ({ ...r, t: new Date(r.t) })).filter((r) => !Number.isNaN(r.t.getTime()));
  lineChart(
    $("timeline"),
    [
      { key: "model", name: "Model", color: COLORS.model, points: rows.map((r) => ({ t: r.t, y: r.model_rate, n: r.decisions })) },
      { key: "control", name: "Control group", color: COLORS.control, points: rows.map((r) => ({ t: r.t, y: r.control_rate })) },
    ],
    { label: "acceptance over time, model and control group", height: 330 },
  );
}

function renderLift(lift) {
  liftChart($("lift"), lift);
  let hint = "model ÷ control, 95% interval";
  if (lift && lift.ci_low !== null && lift.ci_low !== undefined) {
    if (lift.ci_low > 1) hint = "the model beats random (95% interval above 1×)";
    else if (lift.ci_high < 1) hint = "the model does worse than random";
    else hint = "not yet distinguishable from random";
  }
  setText("lift-hint", hint);
}

function renderModels(models) {
  const box = $("models");
  if (!models) {
    box.replaceChildren(h("p", { class: "empty-note" }, DASH));
    setText("models-hint", "");
    return;
  }
  setText(
    "models-hint",
    `serving v${models.serving_version ?? DASH} · latest v${models.latest_version ?? DASH}` +
      (models.pinned_version ? ` · pinned v${models.pinned_version}` : ""),
  );
  const versions = (models.versions || []).slice(0, 6);
  if (!versions.length) {
    box.replaceChildren(h("p", { class: "empty-note" }, "No version published yet"));
    return;
  }
  box.replaceChildren(
    h(
      "table",
      { class: "versions" },
      h("thead", {}, h("tr", {}, h("th", {}, "Version"), h("th", { class: "num" }, "Outcomes learned"), h("th", {}, "Published"))),
      h(
        "tbody",
        {},
        versions.map((v) =>
          h(
            "tr",
            { class: v.version === models.serving_version ? "serving" : "" },
            h("td", {}, `v${v.version}`, v.version === models.serving_version ? h("span", { class: "badge good" }, "serving") : ""),
            h("td", { class: "num" }, num(v.n_learned)),
            h("td", {}, v.created_at ? new Date(v.created_at).toLocaleString("en-GB") : DASH),
          ),
        ),
      ),
    ),
  );
}

function offerName(id) {
  return state.names[id] || id;
}

function renderDriverChoices(offers) {
  const select = $("drivers-offer");
  const ranked = [...offers].sort((a, b) => b.impressions - a.impressions || a.offer_id.localeCompare(b.offer_id));
  if (!state.selected || !offers.some((o) => o.offer_id === state.selected)) {
    state.selected = ranked.length ? ranked[0].offer_id : null;
  }
  const wanted = ranked.map((o) => o.offer_id).join("\n");
  if (select.dataset.ids !== wanted) {
    select.replaceChildren(...ranked.map((o) => h("option", { value: o.offer_id }, offerName(o.offer_id))));
    select.dataset.ids = wanted;
  }
  if (state.selected) select.value = state.selected;
}

function renderDrivers() {
  const offer = (state.metrics?.offers || []).find((o) => o.offer_id === state.selected);
  driversChart($("drivers"), offer ? offer.top_features : []);
}

function sortValue(o, key) {
  if (key === "name") return offerName(o.offer_id).toLowerCase();
  const v = o[key];
  return v === null || v === undefined ? -1 : v;
}

function renderTable(offers) {
  const filter = $("offers-filter").value.trim().toLowerCase();
  const shownOnly = $("offers-shown-only").checked;
  const { key, asc } = state.sort;
  const rows = offers
    .filter((o) => !shownOnly || o.impressions > 0)
    .filter((o) => !filter || `${o.offer_id} ${offerName(o.offer_id)}`.toLowerCase().includes(filter))
    .sort((a, b) => {
      const x = sortValue(a, key);
      const y = sortValue(b, key);
      const c = x < y ? -1 : x > y ? 1 : 0;
      return (asc ? c : -c) || a.offer_id.localeCompare(b.offer_id);
    });
  const shown = offers.filter((o) => o.impressions > 0).length;
  setText("offers-hint", `${shown} of ${offers.length} offers shown so far`);
  for (const th of document.querySelectorAll("#offers th.sortable")) {
    th.classList.toggle("sorted", th.dataset.sort === key);
    th.classList.toggle("asc", th.dataset.sort === key && asc);
  }
  const body = $("offers").tBodies[0];
  if (!rows.length) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: 8, class: "empty-note" }, offers.length ? "No offer matches" : "No offers yet")));
    return;
  }
  body.replaceChildren(
    ...rows.map((o) =>
      h(
        "tr",
        {
          tabindex: 0,
          class: o.offer_id === state.selected ? "selected" : "",
          dataset: { offerId: o.offer_id },
          onclick: () => select(o.offer_id),
          onkeydown: (e) => e.key === "Enter" && select(o.offer_id),
        },
        h("td", {}, h("div", { class: "offer-name" }, offerName(o.offer_id)), h("div", { class: "offer-id" }, o.offer_id)),
        h("td", { class: "num impressions" }, num(o.impressions)),
        h("td", { class: "num accepted" }, num(o.accepted)),
        h("td", { class: "num declined" }, num(o.declined)),
        h("td", { class: "num ignored" }, num(o.ignored)),
        h(
          "td",
          { class: "num acceptance" },
          h("div", { class: "rate" }, pct(o.acceptance_rate), rateBar(o.acceptance_rate)),
        ),
        h("td", { class: "num auc" }, fixed(o.auc, 3)),
        h("td", {}, drivers(o.top_features)),
      ),
    ),
  );
}

function rateBar(rate) {
  const bar = h("span", { class: "bar", "aria-hidden": "true" }, h("i"));
  bar.firstChild.style.width = `${Math.min(100, Math.max(0, (rate || 0) * 100 * 2))}%`;
  return bar;
}

function drivers(features) {
  const top = (features || []).filter((f) => f.feature !== "(base rate)").slice(0, 3);
  if (!top.length) return DASH;
  return h(
    "div",
    { class: "chips" },
    top.map((f) => h("span", { class: `chip ${f.weight >= 0 ? "pos" : "neg"}`, title: `weight ${f.weight}` }, f.feature)),
  );
}

function select(offerId) {
  state.selected = offerId;
  $("drivers-offer").value = offerId;
  renderDrivers();
  renderTable(state.metrics?.offers || []);
}

// ---------------------------------------------------------------- start

function wire() {
  $("drivers-offer").addEventListener("change", (e) => select(e.target.value));
  $("offers-filter").addEventListener("input", () => renderTable(state.metrics?.offers || []));
  $("filter-channel").addEventListener("change", refresh);
  $("filter-window").addEventListener("change", refresh);
  $("offers-shown-only").addEventListener("change", () => renderTable(state.metrics?.offers || []));
  for (const th of document.querySelectorAll("#offers th.sortable")) {
    th.addEventListener("click", () => {
      const key = th.dataset.sort;
      state.sort = { key, asc: state.sort.key === key ? !state.sort.asc : key === "name" };
      renderTable(state.metrics?.offers || []);
    });
  }
  let resizeTimer;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(render, 150);
  });
  document.addEventListener("visibilitychange", () => !document.hidden && refresh());
}

async function start() {
  $("sign-out").addEventListener("click", signOut);
  await ensureKey({
    title: "Learning dashboard",
    role: "analyst",
    check: () => api("/v1/metrics/learning"),
  });
  wire();
  refresh();
}

start();
