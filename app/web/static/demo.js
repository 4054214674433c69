// The demo shop: signs in with a web key (a session cookie; the key is not kept), loads the
// embeddable nbo-offers.js in session mode, and lets you switch the signed-in shopper (which
// renders the placements again: each render is a decision).

let session = null;
const CUSTOMERS = Array.from({ length: 12 }, (_, i) => `C${String(i + 1).padStart(5, "0")}`);
const $ = (id) => document.getElementById(id);

function placements() {
  return document.querySelectorAll("[data-nbo-placement]");
}

function showEmbedCode() {
  const origin = location.origin;
  $("embed-code").textContent =
    `<div data-nbo-placement data-customer-id="C00001" data-channel="web"></div>\n` +
    `<div data-nbo-placement data-customer-id="C00001" data-context-page="roaming"></div>\n\n` +
    `<script src="${origin}/static/nbo-offers.js"\n` +
    `        data-nbo-key="YOUR_WEB_KEY" data-nbo-url="${origin}" defer></script>`;
}

function log(text) {
  const list = $("event-log");
  if (list.querySelector(".muted")) list.replaceChildren();
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString("en-GB")}  ${text}`;
  list.prepend(item);
  while (list.children.length > 8) list.lastElementChild.remove();
}

function listen() {
  for (const name of ["offer", "empty", "accepted", "declined", "error"]) {
    document.addEventListener(`nbo:${name}`, (event) => {
      const d = event.detail || {};
      const where = event.target.id || "placement";
      log(`${where} · nbo:${name}${d.offer_id ? ` · ${d.offer_id}` : ""}${d.status ? ` (${d.status})` : ""}${d.message ? ` · ${d.message}` : ""}`);
      if (where === "hero-placement") {
        $("hero-note").textContent =
          name === "offer" ? "Picked for you just now." : name === "empty" ? "No personal offer right now." : "";
      }
    });
  }
}

async function sessionCall(method, body) {
  const headers = { "Content-Type": "application/json" };
  if (method !== "GET" && session) headers["X-CSRF-Token"] = session.csrf_token;
  const response = await fetch("/v1/session", {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new Error((data && data.detail) || `${response.status}`);
  return data;
}

function loadSnippet() {
  $("demo-key-form").hidden = true;
  $("demo-key-set").hidden = false;
  if (window.NBO) return window.NBO.render();
  const tag = document.createElement("script");
  tag.src = "/static/nbo-offers.js";
  tag.dataset.nboSession = "";
  tag.dataset.nboUrl = location.origin;
  document.body.append(tag);
}

function askForKey() {
  $("demo-key-form").hidden = false;
  $("demo-key-set").hidden = true;
  $("demo-key").focus();
}

async function start() {
  showEmbedCode();
  listen();
  const select = $("demo-customer");
  for (const id of CUSTOMERS) select.append(new Option(id, id));
  select.addEventListener("change", () => {
    for (const p of placements()) p.dataset.customerId = select.value;
    $("account").textContent = `Signed in as ${select.value}`;
    if (window.NBO && session) window.NBO.render();
  });
  $("account").textContent = `Signed in as ${select.value}`;
  $("demo-key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = $("demo-key").value.trim();
    if (!key) return;
    try {
      session = await sessionCall("POST", { key });
    } catch (err) {
      $("demo-key-error").textContent = `That key was not accepted (${err.message}).`;
      return;
    }
    $("demo-key").value = "";
    $("demo-key-error").textContent = "";
    if (window.NBO) {
      // the snippet keeps the session's CSRF token: load the page again for the new session
      location.reload();
      return;
    }
    loadSnippet();
  });
  $("demo-key-change").addEventListener("click", async () => {
    await sessionCall("DELETE").catch(() => null);
    session = null;
    askForKey();
  });
  const current = await sessionCall("GET").catch(() => null);
  session = current && current.signed_in ? current : null;
  if (session) loadSnippet();
  else askForKey();
}

start();
