// Shared by the dashboard and the agent desktop: DOM building, the API client with its session,
// the sign-in form, number formatting, and small SVG charts. No framework, no build step.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Chart colours (the same as the --model, --control, --good and --bad CSS variables). */
export const COLORS = { model: "#4f46e5", control: "#d97706", good: "#047857", bad: "#b91c1c", muted: "#7b8498" };

/** Build an element: h("div", {class: "x", onclick: fn}, "text", child, [more children]). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** The same for SVG elements. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// ---------------------------------------------------------------- formatting

export const DASH = "—";

export function pct(x, digits = 1) {
  return x === null || x === undefined || Number.isNaN(x) ? DASH : `${(x * 100).toFixed(digits)}%`;
}

export function num(x, digits = 0) {
  if (x === null || x === undefined || Number.isNaN(x)) return DASH;
  return Number(x).toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function fixed(x, digits = 2) {
  return x === null || x === undefined || Number.isNaN(x) ? DASH : Number(x).toFixed(digits);
}

export function clockTime(date) {
  return date.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function ago(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, (Date.now() - t) / 1000);
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString("en-GB", { day: "numeric", month: "short" });
}

export function humanize(name) {
  const text = String(name).replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// ---------------------------------------------------------------- API client

// The pages sign in with a key once: POST /v1/session answers with an HttpOnly session cookie
// (which this script cannot read) and a CSRF token, kept in memory only and sent as X-CSRF-Token
// with every write. The key itself is never stored in the browser.
const LEGACY_KEY_STORAGE = "nbo.apiKey";
let session = null;

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** The signed-in session ({key_id, role, csrf_token, expires_at}), or null. */
export function currentSession() {
  return session;
}

// Every request of the page but the sign-out itself: aborted when signing out, so that none (a
// dashboard refresh, say) reaches the server after the session is gone and comes back 401.
const pageRequests = new AbortController();

/** Sign out: the server forgets the cookie; the page reloads to its sign-in form. */
export async function signOut() {
  if (pageRequests.signal.aborted) return;
  pageRequests.abort();
  try {
    await api("/v1/session", { method: "DELETE", signal: null });
  } catch {
    // an expired session is signed out already
  }
  session = null;
  location.reload();
}

/** Call the /v1 API with the session cookie; throws ApiError with the server's message. */
export async function api(path, { method = "GET", body, signal = pageRequests.signal } = {}) {
  if (signal?.aborted) throw new ApiError(0, "signed out", null);
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && session) headers["X-CSRF-Token"] = session.csrf_token;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "same-origin",
      signal: signal ?? undefined,
    });
  } catch (err) {
    throw new ApiError(0, `nbo is unreachable (${err.message})`, null);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = data && (data.detail || data.error);
    const message = typeof detail === "string" ? detail : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message, data);
  }
  return data;
}

async function resumeSession() {
  const current = await api("/v1/session");
  session = current && current.signed_in ? current : null;
  return session;
}

/**
 * Resolve with the session, asking for a key on a small form when there is none.
 * `check()` may throw ApiError to refuse the session (403: this key's role may not use the page);
 * then the session is ended again and the form says why.
 */
export async function ensureKey({ title, role, check } = {}) {
  sessionStorage.removeItem(LEGACY_KEY_STORAGE); // older pages kept the key itself here
  if (await resumeSession()) {
    try {
      if (check) await check();
      return session;
    } catch (err) {
      if (!(err instanceof ApiError) || (err.status !== 401 && err.status !== 403)) throw err;
      await endSession();
    }
  }
  return new Promise((resolve) => {
    const input = h("input", {
      type: "password",
      id: "api-key",
      name: "api-key",
      autocomplete: "off",
      spellcheck: "false",
      placeholder: "nbo_…",
      required: true,
    });
    const error = h("p", { class: "error", role: "alert" });
    const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
    const form = h(
      "form",
      { class: "login", "aria-labelledby": "login-title" },
      h("div", { class: "brand" }, h("span", { class: "brand-mark" }, "n"), "nbo"),
      h("h1", { id: "login-title" }, title || "Sign in"),
      h(
        "p",
        {},
        `Paste an API key${role ? ` with the ${role} role` : ""}. It is exchanged for a session ` +
          "cookie and not kept by this page.",
      ),
      h("label", { for: "api-key" }, "API key"),
      input,
      error,
      h("div", { class: "row" }, submit),
    );
    const backdrop = h("div", { class: "login-backdrop" }, form);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      submit.disabled = true;
      error.textContent = "";
      try {
        session = await api("/v1/session", { method: "POST", body: { key } });
        input.value = "";
        try {
          if (check) await check();
        } catch (err) {
          await endSession();
          throw err;
        }
        backdrop.remove();
        resolve(session);
      } catch (err) {
        error.textContent = keyProblem(err);
        input.select();
      } finally {
        submit.disabled = false;
      }
    });
    document.body.append(backdrop);
    input.focus();
  });
}

async function endSession() {
  try {
    await api("/v1/session", { method: "DELETE" });
  } catch {
    // nothing to end
  }
  session = null;
}

export function keyProblem(err) {
  if (err instanceof ApiError && err.status === 401) return "That key was not accepted.";
  if (err instanceof ApiError && err.status === 403) return `This key's role may not do this: ${err.message}`;
  return err.message || String(err);
}

// ---------------------------------------------------------------- charts (inline SVG)

/** A round top for an axis from 0 to about `max`, with its tick values and label digits. */
function niceScale(max, count = 4) {
  const raw = (max > 0 ? max : 0.1) / count;
  const exp = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * exp).find((v) => v >= raw * (1 - 1e-9));
  const n = Math.max(1, Math.ceil(max / step - 1e-9));
  const percent = step * 100;
  return {
    top: n * step,
    ticks: Array.from({ length: n + 1 }, (_, i) => i * step),
    digits: Math.abs(percent - Math.round(percent)) < 1e-9 ? 0 : 1,
  };
}

function frame(el, width, height) {
  el.replaceChildren();
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  el.append(svg);
  return svg;
}

function emptyChart(svg, width, height, message) {
  svg.append(s("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "empty" }, message));
}

/**
 * Acceptance over time: one line per series, y as a rate.
 * series: [{name, color, points: [{t: Date, y: number|null, n?: number}]}]
 */
export function lineChart(el, series, { height = 240, label = "chart" } = {}) {
  const width = Math.max(320, el.clientWidth || 640);
  const m = { l: 48, r: 16, t: 14, b: 30 };
  const svg = frame(el, width, height);
  svg.setAttribute("aria-label", label);
  const all = series.flatMap((sr) => sr.points.filter((p) => p.y !== null && p.y !== undefined));
  if (!all.length) {
    emptyChart(svg, width, height, "No decisions with responses yet");
    return;
  }
  const times = series.flatMap((sr) => sr.points.map((p) => p.t.getTime()));
  let t0 = Math.min(...times);
  let t1 = Math.max(...times);
  if (t1 - t0 < 3600e3) {
    t0 -= 1800e3;
    t1 += 1800e3;
  }
  const scale = niceScale(Math.max(...all.map((p) => p.y)) * 1.1);
  const yMax = scale.top;
  const x = (t) => m.l + ((t - t0) / (t1 - t0)) * (width - m.l - m.r);
  const y = (v) => height - m.b - (v / yMax) * (height - m.t - m.b);

  const grid = s("g", { class: "grid" });
  for (const v of scale.ticks) {
    grid.append(
      s("line", { x1: m.l, x2: width - m.r, y1: y(v), y2: y(v), class: v === 0 ? "zero" : "" }),
      s("text", { x: m.l - 8, y: y(v) + 4, "text-anchor": "end" }, pct(v, scale.digits)),
    );
  }
  const spanH = (t1 - t0) / 3600e3;
  const stepH = Math.max(1, Math.ceil(spanH / 6));
  const first = Math.ceil(t0 / 3600e3) * 3600e3;
  for (let t = first; t <= t1; t += stepH * 3600e3) {
    const d = new Date(t);
    const hour = d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
    const text =
      d.getHours() === 0 || spanH > 24
        ? `${d.toLocaleDateString("en-GB", { day: "numeric", month: "short" })} ${hour}`
        : hour;
    grid.append(s("text", { x: x(t), y: height - 10, "text-anchor": "middle" }, text));
  }
  svg.append(grid);

  for (const sr of series) {
    let d = "";
    let pen = false;
    for (const p of sr.points) {
      if (p.y === null || p.y === undefined) {
        pen = false;
        continue;
      }
      d += `${pen ? "L" : "M"}${x(p.t.getTime()).toFixed(1)},${y(p.y).toFixed(1)}`;
      pen = true;
    }
    const g = s("g", { class: `series series-${sr.key || sr.name}` });
    if (d.includes("L")) {
      g.append(s("path", { d, fill: "none", stroke: sr.color, "stroke-width": 2.25, "stroke-linejoin": "round" }));
    }
    for (const p of sr.points) {
      if (p.y === null || p.y === undefined) continue;
      g.append(
        s(
          "circle",
          { cx: x(p.t.getTime()), cy: y(p.y), r: sr.points.length > 24 ? 2.5 : 3.5, fill: "#fff", stroke: sr.color, "stroke-width": 2 },
          s("title", {}, `${sr.name}: ${pct(p.y)} at ${p.t.toLocaleString("en-GB")}${p.n ? ` (${p.n} decisions)` : ""}`),
        ),
      );
    }
    svg.append(g);
  }
}

/** Calibration: mean predicted vs observed acceptance per propensity bucket, with the diagonal. */
export function calibrationChart(el, buckets, { height = 260 } = {}) {
  const width = Math.max(280, el.clientWidth || 420);
  const m = { l: 48, r: 14, t: 12, b: 40 };
  const svg = frame(el, width, height);
  svg.setAttribute("aria-label", "calibration plot");
  const rows = (buckets || []).filter((b) => b && b.n > 0);
  if (!rows.length) {
    emptyChart(svg, width, height, "No responses learned yet");
    return;
  }
  const scale = niceScale(Math.max(...rows.flatMap((b) => [b.predicted, b.observed])) * 1.1);
  const top = scale.top;
  const x = (v) => m.l + (v / top) * (width - m.l - m.r);
  const y = (v) => height - m.b - (v / top) * (height - m.t - m.b);
  const grid = s("g", { class: "grid" });
  for (const v of scale.ticks) {
    grid.append(
      s("line", { x1: x(0), x2: x(top), y1: y(v), y2: y(v), class: v === 0 ? "zero" : "" }),
      s("line", { x1: x(v), x2: x(v), y1: y(0), y2: y(top), class: v === 0 ? "zero" : "" }),
      s("text", { x: x(0) - 8, y: y(v) + 4, "text-anchor": "end" }, pct(v, scale.digits)),
      s("text", { x: x(v), y: y(0) + 15, "text-anchor": "middle" }, pct(v, scale.digits)),
    );
  }
  grid.append(
    s("text", { x: x(top / 2), y: y(0) + 32, "text-anchor": "middle" }, "predicted acceptance"),
    s("text", { x: 12, y: y(top / 2), "text-anchor": "middle", transform: `rotate(-90 12 ${y(top / 2)})` }, "observed"),
  );
  svg.append(grid);
  svg.append(
    s("line", {
      x1: x(0), y1: y(0), x2: x(top), y2: y(top),
      stroke: "#9aa3b5", "stroke-dasharray": "4 4", "stroke-width": 1.25,
    }),
  );
  const maxN = Math.max(...rows.map((b) => b.n));
  const path = rows.map((b, i) => `${i ? "L" : "M"}${x(b.predicted).toFixed(1)},${y(b.observed).toFixed(1)}`).join("");
  svg.append(s("path", { d: path, fill: "none", stroke: COLORS.model, "stroke-width": 1.5, opacity: 0.6 }));
  const dots = s("g", { class: "points" });
  for (const b of rows) {
    dots.append(
      s(
        "circle",
        {
          cx: x(b.predicted), cy: y(b.observed), r: 3.5 + 6 * Math.sqrt(b.n / maxN),
          fill: COLORS.model, "fill-opacity": 0.75, stroke: "#fff", "stroke-width": 1.5,
        },
        s("title", {}, `propensity ${pct(b.bucket_low, 0)}–${pct(b.bucket_high, 0)}: predicted ${pct(b.predicted)}, observed ${pct(b.observed)}, n=${b.n}`),
      ),
    );
  }
  svg.append(dots);
}

/** Drivers: signed weights as diverging horizontal bars around zero. */
export function driversChart(el, features) {
  const rows = (features || []).filter((f) => f && typeof f.weight === "number");
  const width = Math.max(300, el.clientWidth || 420);
  const rowH = 26;
  const height = Math.max(80, rows.length * rowH + 24);
  const svg = frame(el, width, height);
  svg.setAttribute("aria-label", "drivers of acceptance");
  if (!rows.length) {
    emptyChart(svg, width, height, "No drivers learned for this offer yet");
    return;
  }
  const labelW = Math.min(230, width * 0.45);
  const span = width - labelW - 64;
  const hasPos = rows.some((f) => f.weight >= 0);
  const hasNeg = rows.some((f) => f.weight < 0);
  // diverging around zero when both signs occur, else one-sided from zero
  const half = hasPos && hasNeg ? span / 2 : span;
  const mid = labelW + 8 + (hasPos && hasNeg ? span / 2 : hasNeg ? span : 0);
  const maxW = Math.max(...rows.map((f) => Math.abs(f.weight))) || 1;
  svg.append(s("line", { x1: mid, x2: mid, y1: 4, y2: height - 16, stroke: "#c9cfdb" }));
  rows.forEach((f, i) => {
    const cy = 14 + i * rowH;
    const w = (Math.abs(f.weight) / maxW) * half;
    const positive = f.weight >= 0;
    const label = f.feature.length > 34 ? `${f.feature.slice(0, 33)}…` : f.feature;
    svg.append(
      s("text", { x: labelW - 8, y: cy + 4, "text-anchor": "end", class: "driver-label" }, label, s("title", {}, f.feature)),
      s("rect", {
        x: positive ? mid : mid - w, y: cy - 8, width: Math.max(w, 1.5), height: 16, rx: 3,
        fill: positive ? COLORS.good : COLORS.bad, "fill-opacity": 0.85, class: "driver-bar",
      }),
      s(
        "text",
        { x: positive ? mid + w + 6 : mid - w - 6, y: cy + 4, "text-anchor": positive ? "start" : "end" },
        `${positive ? "+" : ""}${f.weight.toFixed(3)}`,
      ),
    );
  });
  svg.append(
    hasNeg ? s("text", { x: mid - 6, y: height - 2, "text-anchor": "end" }, "← less likely") : "",
    hasPos ? s("text", { x: mid + 6, y: height - 2 }, "more likely →") : "",
  );
}

/** Lift: the ratio with its 95% interval on an axis with "no lift" (1×) marked. */
export function liftChart(el, lift) {
  const width = Math.max(220, el.clientWidth || 300);
  const height = 64;
  const svg = frame(el, width, height);
  svg.setAttribute("aria-label", "lift with 95% interval");
  if (!lift || lift.value === null || lift.value === undefined) {
    emptyChart(svg, width, height - 20, "needs acceptances in both groups");
    return;
  }
  const hasCi = lift.ci_low !== null && lift.ci_low !== undefined && lift.ci_high !== null;
  const lo = Math.min(0.5, hasCi ? lift.ci_low : lift.value) * 0.9;
  const hi = Math.max(2, hasCi ? lift.ci_high : lift.value) * 1.05;
  const x = (v) => 24 + ((v - lo) / (hi - lo)) * (width - 48);
  const color = hasCi && lift.ci_low > 1 ? COLORS.good : hasCi && lift.ci_high < 1 ? COLORS.bad : COLORS.model;
  const cy = 26;
  svg.append(
    s("line", { x1: x(lo), x2: x(hi), y1: cy, y2: cy, stroke: "#e3e7ef", "stroke-width": 2 }),
    s("line", { x1: x(1), x2: x(1), y1: cy - 16, y2: cy + 14, stroke: "#9aa3b5", "stroke-dasharray": "3 3" }),
    s("text", { x: x(1), y: cy + 28, "text-anchor": "middle" }, "1× = no lift"),
  );
  if (hasCi) {
    svg.append(
      s("line", { x1: x(lift.ci_low), x2: x(lift.ci_high), y1: cy, y2: cy, stroke: color, "stroke-width": 8, "stroke-linecap": "round", "stroke-opacity": 0.28 }),
      s("line", { x1: x(lift.ci_low), x2: x(lift.ci_low), y1: cy - 7, y2: cy + 7, stroke: color, "stroke-width": 2 }),
      s("line", { x1: x(lift.ci_high), x2: x(lift.ci_high), y1: cy - 7, y2: cy + 7, stroke: color, "stroke-width": 2 }),
    );
  }
  svg.append(
    s("circle", { cx: x(lift.value), cy, r: 6.5, fill: color, stroke: "#fff", "stroke-width": 2 },
      s("title", {}, `lift ${fixed(lift.value)}× (95% CI ${fixed(lift.ci_low)}–${fixed(lift.ci_high)})`)),
    s("text", { x: x(lift.value), y: cy - 13, "text-anchor": "middle", class: "lift-value" }, `${fixed(lift.value)}×`),
  );
}
