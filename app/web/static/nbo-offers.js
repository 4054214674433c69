/*! nbo-offers.js — render nbo's next best offer into any web page.
 *
 *   <div data-nbo-placement data-customer-id="C1" data-channel="web"></div>
 *   <script src="https://nbo.example/static/nbo-offers.js"
 *           data-nbo-key="WEB_KEY" data-nbo-url="https://nbo.example" defer></script>
 *
 * Placement attributes: data-customer-id (else an anonymous id kept in localStorage),
 * data-channel ("web"), data-interaction ("visit"), data-limit (1), data-context-<name>="value"
 * (request context, e.g. data-context-page="roaming"), data-cta ("I'm interested"),
 * data-decline ("No thanks").
 *
 * The key is a `web` role key: it may only decide for the web channel, and report outcomes.
 * On nbo's own origin a page may instead sign in (POST /v1/session) and load the script with
 * data-nbo-session and no key: calls then go with the session cookie and its CSRF token.
 * A click on the call to action reports "accepted"; "No thanks" reports "declined" (the decision
 * itself is the impression). Each placement fires DOM events the page can listen to:
 * nbo:offer, nbo:empty, nbo:accepted, nbo:declined, nbo:error (detail: decision_id, offer...).
 * Styling: the card lives in a shadow root; set --nbo-accent, --nbo-radius, --nbo-bg on the
 * placement (or any parent) to theme it. window.NBO.render() renders the placements again.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var KEY = (script && script.getAttribute("data-nbo-key")) || "";
  var SESSION = !KEY && !!script && script.hasAttribute("data-nbo-session");
  var csrf = null;
  var BASE = ((script && script.getAttribute("data-nbo-url")) || (script ? new URL(script.src).origin : "")).replace(/\/+$/, "");

  var CSS = [
    ":host{display:block;--_accent:var(--nbo-accent,#4338ca);--_radius:var(--nbo-radius,12px)}",
    ".card{font:inherit;color:inherit;background:var(--nbo-bg,#fff);border:1px solid rgba(0,0,0,.09);",
    "border-radius:var(--_radius);padding:18px 20px;box-shadow:0 2px 10px rgba(0,0,0,.05)}",
    ".kicker{font-size:11.5px;font-weight:700;letter-spacing:.08em;text-transform:uppercase;color:var(--_accent);margin:0 0 6px}",
    ".name{font-size:1.25em;font-weight:700;line-height:1.25;margin:0 0 14px}",
    ".row{display:flex;align-items:center;gap:14px;flex-wrap:wrap}",
    ".cta{font:inherit;font-weight:650;cursor:pointer;border:0;border-radius:calc(var(--_radius) - 4px);",
    "background:var(--_accent);color:#fff;padding:10px 18px}",
    ".cta:hover{filter:brightness(1.1)}",
    ".no{font:inherit;font-size:.9em;cursor:pointer;border:0;background:none;color:inherit;opacity:.65;text-decoration:underline;padding:4px}",
    ".no:hover{opacity:1}",
    "button:focus-visible{outline:3px solid var(--_accent);outline-offset:2px}",
    ".done{font-weight:600;margin:0}",
    ".muted{opacity:.7;font-size:.9em;margin:4px 0 0}",
  ].join("");

  var sheet = null;
  function style(root) {
    if ("adoptedStyleSheets" in Document.prototype && typeof CSSStyleSheet === "function") {
      try {
        if (!sheet) {
          sheet = new CSSStyleSheet();
          sheet.replaceSync(CSS);
        }
        root.adoptedStyleSheets = [sheet];
        return;
      } catch (e) {
        /* fall back to a <style> element */
      }
    }
    var el = document.createElement("style");
    el.textContent = CSS;
    root.appendChild(el);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function anonymousId() {
    var name = "nbo.visitor";
    try {
      var id = localStorage.getItem(name);
      if (!id) {
        id = "anon-" + Math.random().toString(36).slice(2, 12) + Date.now().toString(36);
        localStorage.setItem(name, id);
      }
      return id;
    } catch (e) {
      return "anon-" + Math.random().toString(36).slice(2, 12);
    }
  }

  function session() {
    // the CSRF token of the page's session; the cookie itself is HttpOnly and goes on its own
    if (!csrf) {
      csrf = fetch(BASE + "/v1/session", { credentials: "same-origin", cache: "no-store" }).then(function (r) {
        if (!r.ok) throw new Error("nbo " + r.status + ": not signed in");
        return r.json();
      }).then(function (data) {
        if (!data.signed_in) throw new Error("nbo: not signed in");
        return data.csrf_token;
      });
      csrf.catch(function () { csrf = null; });
    }
    return csrf;
  }

  function call(path, body) {
    var headers = SESSION ? session().then(function (token) {
      return { "X-CSRF-Token": token, "Content-Type": "application/json" };
    }) : Promise.resolve({ Authorization: "Bearer " + KEY, "Content-Type": "application/json" });
    return headers.then(function (h) {
      return fetch(BASE + path, {
        method: "POST",
        mode: SESSION ? "same-origin" : "cors",
        credentials: SESSION ? "same-origin" : "omit",
        headers: h,
        body: JSON.stringify(body),
      });
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        if (!response.ok) {
          var detail = data && (data.detail || data.error);
          throw new Error("nbo " + response.status + ": " + (typeof detail === "string" ? detail : response.statusText));
        }
        return data;
      });
    });
  }

  function emit(placement, name, detail) {
    placement.dispatchEvent(new CustomEvent("nbo:" + name, { bubbles: true, detail: detail }));
  }

  function request(placement) {
    var data = placement.dataset;
    var context = {};
    Object.keys(data).forEach(function (k) {
      if (k.length > 7 && k.indexOf("context") === 0) {
        var name = k.slice(7);
        context[name.charAt(0).toLowerCase() + name.slice(1)] = data[k];
      }
    });
    return {
      customer_id: data.customerId || anonymousId(),
      channel: data.channel || "web",
      interaction: data.interaction || "visit",
      context: context,
      limit: Math.max(1, Math.min(5, parseInt(data.limit || "1", 10) || 1)),
    };
  }

  function render(placement) {
    var root = placement.shadowRoot || placement.attachShadow({ mode: "open" });
    while (root.firstChild) root.removeChild(root.firstChild);
    style(root);
    placement.setAttribute("data-nbo-state", "loading");
    placement.setAttribute("aria-busy", "true");
    return call("/v1/decisions", request(placement))
      .then(function (decision) {
        placement.removeAttribute("aria-busy");
        var offer = decision.offers && decision.offers[0];
        if (!offer) {
          placement.setAttribute("data-nbo-state", "empty");
          emit(placement, "empty", { decision_id: decision.decision_id });
          return;
        }
        show(placement, root, decision, offer);
      })
      .catch(function (err) {
        placement.removeAttribute("aria-busy");
        placement.setAttribute("data-nbo-state", "error");
        emit(placement, "error", { message: err.message });
        if (window.console) console.warn("[nbo]", err.message);
      });
  }

  function show(placement, root, decision, offer) {
    var data = placement.dataset;
    var card = el("section", "card");
    card.setAttribute("aria-label", "Recommended for you");
    card.setAttribute("part", "card");
    card.appendChild(el("p", "kicker", data.kicker || (offer.kind === "service" ? "We can help" : "Recommended for you")));
    card.appendChild(el("p", "name", offer.name || offer.offer_id));
    var row = el("div", "row");
    var cta = el("button", "cta", data.cta || (offer.kind === "service" ? "Yes, please" : "I'm interested"));
    cta.type = "button";
    cta.setAttribute("part", "cta");
    var no = el("button", "no", data.decline || "No thanks");
    no.type = "button";
    row.appendChild(cta);
    row.appendChild(no);
    card.appendChild(row);
    root.appendChild(card);
    placement.setAttribute("data-nbo-state", "offer");
    placement.setAttribute("data-nbo-offer", offer.offer_id);
    var detail = { decision_id: decision.decision_id, offer_id: offer.offer_id, name: offer.name, kind: offer.kind };
    emit(placement, "offer", detail);

    function answer(outcome, message) {
      cta.disabled = no.disabled = true;
      call("/v1/decisions/" + encodeURIComponent(decision.decision_id) + "/outcomes", {
        offer_id: offer.offer_id,
        outcome: outcome,
      })
        .then(function (receipt) {
          placement.setAttribute("data-nbo-state", outcome);
          while (card.firstChild) card.removeChild(card.firstChild);
          card.appendChild(el("p", "done", message[0]));
          card.appendChild(el("p", "muted", message[1]));
          emit(placement, outcome, Object.assign({ status: receipt && receipt.status }, detail));
        })
        .catch(function (err) {
          cta.disabled = no.disabled = false;
          emit(placement, "error", { message: err.message });
          if (window.console) console.warn("[nbo]", err.message);
        });
    }
    cta.addEventListener("click", function () {
      answer("accepted", ["Thank you!", (offer.name || "This offer") + ": we will be in touch shortly."]);
    });
    no.addEventListener("click", function () {
      answer("declined", ["Understood.", "We won't suggest this again for a while."]);
    });
  }

  function renderAll(scope) {
    var nodes = (scope || document).querySelectorAll("[data-nbo-placement]");
    return Promise.all(Array.prototype.map.call(nodes, render));
  }

  window.NBO = { render: renderAll, version: "1" };
  if (!KEY && !SESSION) {
    if (window.console) console.warn("[nbo] data-nbo-key is missing on the nbo-offers.js script tag");
    return;
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { renderAll(); });
  } else {
    renderAll();
  }
})();
