// The demo shop: keeps a web key for this tab, loads the embeddable nbo-offers.js with it, and lets
// you switch the signed-in shopper (which renders the placements again: each render is a decision).

const KEY_STORAGE = "nbo.demoWebKey";
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

function loadSnippet(key) {
  $("demo-key-form").hidden = true;
  $("demo-key-set").hidden = false;
  if (window.NBO) return window.NBO.render();
  const tag = document.createElement("script");
  tag.src = "/static/nbo-offers.js";
  tag.dataset.nboKey = key;
  tag.dataset.nboUrl = location.origin;
  document.body.append(tag);
}

function askForKey() {
  $("demo-key-form").hidden = false;
  $("demo-key-set").hidden = true;
  $("demo-key").focus();
}

function start() {
  showEmbedCode();
  listen();
  const select = $("demo-customer");
  for (const id of CUSTOMERS) select.append(new Option(id, id));
  select.addEventListener("change", () => {
    for (const p of placements()) p.dataset.customerId = select.value;
    $("account").textContent = `Signed in as ${select.value}`;
    if (window.NBO && sessionStorage.getItem(KEY_STORAGE)) window.NBO.render();
  });
  $("account").textContent = `Signed in as ${select.value}`;
  $("demo-key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("demo-key").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    if (window.NBO) {
      // the snippet read its key when it loaded: load the page again with the new one
      location.reload();
      return;
    }
    loadSnippet(key);
  });
  $("demo-key-change").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    askForKey();
  });
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) loadSnippet(key);
  else askForKey();
}

start();
