"""The web pages in a real headless Chromium, against a real nbo (no mocks anywhere).

- every page loads without console errors or uncaught exceptions, behind a key form;
- the agent desktop: find a seeded customer, get the next best actions, press 1 to accept (and
  Shift+1 to decline during a complaint); the outcome reaches /v1/metrics/learning and the
  dashboard shows it;
- the dashboard with real traffic: figures, timeline, calibration, drivers, and a live refresh;
- the embeddable snippet, on /demo/web and on a page of another origin (CORS): it renders the next
  best offer and a click records an accepted outcome.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from app.demo import demo_acceptance_probability, demo_customers, demo_offers
from app.web import install_web
from tests.services import Service

from .conftest import SEEDED_CUSTOMERS, Tab, _tab, serve_pages

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PAGES = ["/dashboard", "/agent", "/demo/web"]


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def offer_counts(service: Service, offer_id: str) -> dict[str, Any]:
    metrics = service.client.get("/v1/metrics/learning").json()
    return next(o for o in metrics["offers"] if o["offer_id"] == offer_id)


def wait_count(
    service: Service, offer_id: str, field: str, expected: int, timeout_s: float = 20
) -> None:
    deadline = time.monotonic() + timeout_s
    seen: Any = None
    while time.monotonic() < deadline:
        seen = offer_counts(service, offer_id)[field]
        if seen == expected:
            return
        time.sleep(0.1)
    raise AssertionError(f"{field} of {offer_id} is {seen}, expected {expected}")


def sign_in(page: Page, key: str) -> None:
    page.fill("#api-key", key)
    page.press("#api-key", "Enter")
    expect(page.locator(".login-backdrop")).to_have_count(0)


# ---------------------------------------------------------------- serving


def test_pages_and_static_files_are_served(pages_service: Service) -> None:
    with httpx.Client(base_url=pages_service.url) as anonymous:
        for path in PAGES:
            page = anonymous.get(path)
            assert page.status_code == 200, path
            assert page.headers["content-type"].startswith("text/html")
            assert "script-src 'self'" in page.headers["content-security-policy"]
            assert "cdn" not in page.text.lower()
        snippet = anonymous.get("/static/nbo-offers.js")
        assert snippet.status_code == 200
        assert "javascript" in snippet.headers["content-type"]
        assert anonymous.get("/v1/metrics/learning").status_code == 401  # the API still needs a key
        assert "/dashboard" not in anonymous.get("/openapi.json").json()["paths"]
    before = len(pages_service.app.routes)
    install_web(pages_service.app)  # a second call changes nothing
    assert len(pages_service.app.routes) == before


@pytest.mark.parametrize("path", PAGES)
def test_each_page_loads_without_console_errors(tab: Tab, path: str) -> None:
    tab.open(path)
    if path == "/demo/web":
        expect(tab.page.locator("#demo-key")).to_be_visible()
    else:
        expect(tab.page.locator("#api-key")).to_be_focused()
    tab.page.wait_for_load_state("networkidle")
    tab.shot(f"sign-in{path.replace('/', '-')}")
    tab.assert_clean()


def test_a_wrong_key_or_role_is_refused_on_the_form(tab: Tab, pages_service: Service) -> None:
    page = tab.page
    tab.open("/dashboard")
    page.fill("#api-key", "not-a-key")
    page.press("#api-key", "Enter")
    expect(page.locator(".login .error")).to_have_text("That key was not accepted.")
    assert page.evaluate("sessionStorage.getItem('nbo.apiKey')") is None
    tab.open("/agent")
    page.fill("#api-key", pages_service.key_for("web"))  # a web key is for the snippet only
    page.press("#api-key", "Enter")
    expect(page.locator(".login .error")).to_contain_text("role")
    assert page.evaluate("sessionStorage.getItem('nbo.apiKey')") is None


# ---------------------------------------------------------------- session, CSRF, sign-out


def test_sign_in_keeps_an_httponly_cookie_not_the_key(tab: Tab, pages_service: Service) -> None:
    page = tab.page
    key = pages_service.key_for("analyst")
    tab.open("/dashboard")
    sign_in(page, key)
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["nbo_session"]
    assert session["httpOnly"] is True and session["sameSite"] == "Strict"
    assert session["secure"] is False  # plain http in this test; Secure over https
    assert key not in session["value"]
    assert page.evaluate("document.cookie") == ""  # scripts cannot read it
    stored = page.evaluate(
        "JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage)])"
    )
    assert key not in stored

    # a write with the cookie but without the CSRF token is refused before anything else
    write = """async (token) => {
        const headers = {'Content-Type': 'application/json'};
        if (token) headers['X-CSRF-Token'] = token;
        const r = await fetch('/v1/decisions', {method: 'POST', headers, credentials: 'same-origin',
            body: JSON.stringify({customer_id: 'C00001', channel: 'web'})});
        return [r.status, (await r.json()).detail];
    }"""
    status, detail = page.evaluate(write, None)
    assert status == 403 and "X-CSRF-Token" in detail
    token = page.evaluate("async () => (await (await fetch('/v1/session')).json()).csrf_token")
    status, detail = page.evaluate(write, token)
    assert status == 403 and "role 'analyst'" in detail  # past the CSRF check, stopped by role
    tab.errors.clear()  # the two refusals above are logged by Chromium, on purpose
    # a reload keeps the session: no sign-in form
    page.reload()
    expect(page.locator("#kpi-learned")).to_be_visible()
    expect(page.locator(".login-backdrop")).to_have_count(0)

    # sign out: the cookie is gone and the form is back
    page.click("#sign-out")
    expect(page.locator("#api-key")).to_be_visible()
    assert "nbo_session" not in {c["name"] for c in page.context.cookies()}
    tab.assert_clean()


def test_agent_writes_carry_the_csrf_token(tab: Tab, pages_service: Service) -> None:
    page = tab.page
    tab.open("/agent")
    sign_in(page, pages_service.key_for("channel"))
    sent: list[dict[str, str]] = []
    page.on(
        "request",
        lambda r: sent.append(r.headers) if r.method == "POST" and "/v1/" in r.url else None,
    )
    page.fill("#customer-id", "C00002")
    page.press("#customer-id", "Enter")
    expect(page.locator("#actions article.action").first).to_be_visible()
    assert sent and all("x-csrf-token" in h and "authorization" not in h for h in sent)
    tab.assert_clean()


# ---------------------------------------------------------------- agent desktop


def test_agent_accepts_with_a_key_and_the_dashboard_counts_it(
    tab: Tab, pages_service: Service
) -> None:
    page = tab.page
    tab.open("/agent")
    sign_in(page, pages_service.admin_key)
    assert "admin-" not in page.url  # the key never travels in a URL

    page.fill("#customer-id", "C00001")
    page.select_option("#interaction", "inbound_call")
    page.focus("#customer-id")
    page.keyboard.press("Enter")
    cards = page.locator("#actions article.action")
    expect(cards.first).to_be_visible()
    assert 1 <= cards.count() <= 3
    expect(page.locator("#customer .cid")).to_have_text("C00001")
    expect(page.locator("#value-tier")).to_be_visible()
    expect(page.locator("#history li[data-type=decision]")).to_have_count(1)
    top = cards.first
    offer_id = top.get_attribute("data-offer-id")
    assert offer_id
    assert offer_counts(pages_service, offer_id)["accepted"] == 0
    tab.shot("agent-next-best-actions")

    page.keyboard.press("1")  # accept the top action
    expect(top.locator(".result")).to_contain_text("Accepted")
    expect(page.locator("#history li[data-type=outcome]").first).to_contain_text("Accepted")
    wait_count(pages_service, offer_id, "accepted", 1)
    tab.shot("agent-accepted")

    # a complaint: service actions only; Shift+1 declines the top one
    page.select_option("#interaction", "complaint")
    page.click("#find")
    expect(page.locator("#decision-meta")).to_contain_text("Complaint")
    kinds = page.locator("#actions article.action .badge.service")
    expect(kinds).to_have_count(cards.count())
    declined_id = cards.first.get_attribute("data-offer-id")
    assert declined_id
    page.locator("#actions").focus()
    page.keyboard.press("Shift+Digit1")
    expect(cards.first.locator(".result")).to_contain_text("Declined")
    wait_count(pages_service, declined_id, "declined", 1)
    tab.shot("agent-complaint-declined")
    tab.assert_clean()

    # the dashboard, in the same tab: the session cookie signs it in
    tab.open("/dashboard")
    row = page.locator(f'#offers tbody tr[data-offer-id="{offer_id}"]')
    expect(row.locator("td.accepted")).to_have_text("1")
    expect(page.locator(".login-backdrop")).to_have_count(0)
    tab.shot("dashboard-after-agent")
    tab.assert_clean()


def test_agent_reports_an_unknown_customer(tab: Tab, pages_service: Service) -> None:
    tab.open("/agent")
    sign_in(tab.page, pages_service.admin_key)
    tab.page.fill("#customer-id", "C1 x")
    tab.page.press("#customer-id", "Enter")
    expect(tab.page.locator("#error")).to_contain_text("customer ID")
    tab.assert_clean()


# ---------------------------------------------------------------- dashboard with traffic


def make_traffic(client: httpx.Client, decisions: int, seed: int = 5) -> int:
    """Decisions on three channels answered by the demo's hidden truth; returns outcomes sent."""
    rng = random.Random(seed)
    customers = demo_customers(SEEDED_CUSTOMERS)
    offers = {o["offer_id"]: o for o in demo_offers()}
    sent = 0
    for i in range(decisions):
        customer = customers[i % len(customers)]
        channel = rng.choice(["web", "call_center", "app"])
        interaction = (
            rng.choice(["inbound_call", "complaint", "retention_call"])
            if channel == "call_center"
            else "visit"
        )
        answer = client.post(
            "/v1/decisions",
            json={
                "customer_id": customer["customer_id"],
                "channel": channel,
                "interaction": interaction,
            },
        ).json()
        for shown in answer["offers"]:
            p = demo_acceptance_probability(
                customer["features"], offers[shown["offer_id"]], channel
            )
            outcome = "accepted" if rng.random() < p else rng.choice(["declined", "ignored"])
            client.post(
                f"/v1/decisions/{answer['decision_id']}/outcomes",
                json={"offer_id": shown["offer_id"], "outcome": outcome},
            ).raise_for_status()
            sent += 1
    return sent


@pytest.fixture
def busy_service(redis_url: str, database_url: str, tmp_path: Path) -> Iterator[Service]:
    with serve_pages(redis_url, database_url, tmp_path / "data", seed=3, control_share=0.3) as svc:
        yield svc


def test_dashboard_shows_learning_and_refreshes_live(
    browser: Browser, busy_service: Service, screenshots: Path
) -> None:
    sent = make_traffic(busy_service.client, 400)
    metrics = busy_service.wait_learned(sent)
    with contextmanager(_tab)(browser, busy_service.url, screenshots) as tab:
        page = tab.page
        tab.open("/dashboard")
        sign_in(page, busy_service.admin_key)
        expect(page.locator("#kpi-learned")).to_have_text(f"{metrics['outcomes_learned']:,}")
        expect(page.locator("#model-version")).not_to_have_text("—")
        lift = metrics["lift"]
        expected_lift = "—" if lift["value"] is None else f"{lift['value']:.2f}×"
        expect(page.locator("#kpi-lift")).to_have_text(expected_lift)
        expect(page.locator("#kpi-model")).not_to_have_text("—")
        expect(page.locator("#kpi-auc")).not_to_have_text("—")
        expect(page.locator("#kpi-explore")).not_to_have_text("—")
        expect(page.locator("#timeline svg .series-model circle").first).to_be_visible()
        assert page.locator("#calibration svg .points circle").count() >= 2
        assert page.locator("#drivers svg rect.driver-bar").count() >= 1
        shown = sum(1 for o in metrics["offers"] if o["impressions"] > 0)
        expect(page.locator("#offers tbody tr")).to_have_count(shown)
        expect(page.locator("#models table.versions tbody tr").first).to_be_visible()
        tab.shot("dashboard")

        # the served model's off-policy estimate, from the archived control decisions
        if busy_service.client.get("/v1/metrics/learning").json()["off_policy"]:
            expect(page.locator("#kpi-offpolicy")).not_to_have_text("—")
            expect(page.locator("#kpi-offpolicy-sub")).to_contain_text("control decisions")

        # one channel: the figures come from the interaction archive, for that channel only
        page.select_option("#filter-channel", "web")
        expect(page.locator("#filter-source")).to_contain_text("archive")
        web = busy_service.client.get("/v1/metrics/learning", params={"channel": "web"}).json()
        assert web["source"] == "archive" and 0 < web["model"]["decisions"] < sent
        expect(page.locator("#kpi-model-sub")).to_have_text(
            f"accepted {web['model']['accepted']:,} of {web['model']['decisions']:,}",
            timeout=10_000,  # the page polls every 4 s
        )
        tab.shot("dashboard-web-channel")
        page.select_option("#filter-channel", "")
        expect(page.locator("#filter-source")).to_have_text("live counters")

        # clicking an offer shows its drivers
        row = page.locator("#offers tbody tr").nth(2)
        row.click()
        expect(row).to_have_class("selected")
        assert page.input_value("#drivers-offer") == row.get_attribute("data-offer-id")

        # live: more traffic shows up without a reload
        more = make_traffic(busy_service.client, 20, seed=6)
        after = busy_service.wait_learned(sent + more)
        expect(page.locator("#kpi-learned")).to_have_text(
            f"{after['outcomes_learned']:,}", timeout=20_000
        )
        tab.assert_clean()


# ---------------------------------------------------------------- the embeddable snippet


def test_demo_shop_renders_offers_and_a_click_accepts(tab: Tab, pages_service: Service) -> None:
    page = tab.page
    web_key = pages_service.key_for("web")
    tab.open("/demo/web")
    page.fill("#demo-key", web_key)
    page.press("#demo-key", "Enter")
    hero = page.locator("#hero-placement")
    expect(hero).to_have_attribute("data-nbo-state", "offer")
    expect(page.locator("#travel-placement")).to_have_attribute("data-nbo-state", "offer")
    offer_id = hero.get_attribute("data-nbo-offer")
    assert offer_id
    expect(hero.locator(".name")).not_to_be_empty()  # in the placement's (open) shadow root
    expect(page.locator("#event-log")).to_contain_text("nbo:offer")
    tab.shot("demo-web-offers")

    hero.locator("button.cta").click()
    expect(hero).to_have_attribute("data-nbo-state", "accepted")
    expect(hero.locator(".done")).to_have_text("Thank you!")
    wait_count(pages_service, offer_id, "accepted", 1)

    travel = page.locator("#travel-placement")
    travel_offer = travel.get_attribute("data-nbo-offer")
    assert travel_offer
    declined_before = offer_counts(pages_service, travel_offer)["declined"]
    travel.locator("button.no").click()
    expect(travel).to_have_attribute("data-nbo-state", "declined")
    wait_count(pages_service, travel_offer, "declined", declined_before + 1)
    tab.shot("demo-web-answered")

    # another shopper: the placements render again (a new decision for them)
    page.select_option("#demo-customer", "C00002")
    expect(hero).to_have_attribute("data-nbo-state", "offer")
    tab.assert_clean()


@contextmanager
def other_site(folder: Path) -> Iterator[str]:
    """A static web server on its own port: another origin, like a customer's website."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_snippet_works_on_another_origin_allowed_by_cors(
    browser: Browser,
    redis_url: str,
    database_url: str,
    tmp_path: Path,
    screenshots: Path,
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    with (
        other_site(site) as origin,
        serve_pages(
            redis_url, database_url, tmp_path / "data", seed=2, cors_origins=[origin]
        ) as nbo,
    ):
        key = nbo.key_for("web")
        (site / "index.html").write_text(
            "<!doctype html><html><head><meta charset='utf-8'><title>Some shop</title>"
            "<link rel='icon' href='data:,'></head><body><h1>Some shop</h1>"
            "<div id='p' data-nbo-placement data-customer-id='C00003'></div>"
            f"<script src='{nbo.url}/static/nbo-offers.js' data-nbo-key='{key}' "
            f"data-nbo-url='{nbo.url}' defer></script></body></html>"
        )
        with contextmanager(_tab)(browser, origin, screenshots) as tab:
            tab.open("/index.html")
            placement = tab.page.locator("#p")
            expect(placement).to_have_attribute("data-nbo-state", "offer")
            offer_id = placement.get_attribute("data-nbo-offer")
            assert offer_id
            tab.shot("snippet-on-another-origin")
            placement.locator("button.cta").click()
            expect(placement).to_have_attribute("data-nbo-state", "accepted")
            wait_count(nbo, offer_id, "accepted", 1)
            tab.assert_clean()


def test_another_site_cannot_write_with_the_session(
    browser: Browser, pages_service: Service, tmp_path: Path, screenshots: Path
) -> None:
    """Signed in as admin, the user visits another site (same host, other port: same-site, so
    the cookie is sent); its scripted and form POSTs to nbo are refused for want of the CSRF
    token, and no key is made."""
    site = tmp_path / "evil"
    site.mkdir()
    with other_site(site) as origin:
        (site / "index.html").write_text(
            "<!doctype html><html><head><meta charset='utf-8'><title>Win a phone</title>"
            "<link rel='icon' href='data:,'></head><body>"
            f"<form id='f' method='post' action='{pages_service.url}/v1/keys' "
            'enctype=\'text/plain\' target=\'sink\'><input name=\'{"role":"admin","x":"\' '
            "value='\"}'></form><iframe name='sink'></iframe><script>"
            f"fetch('{pages_service.url}/v1/keys', {{method: 'POST', mode: 'no-cors', "
            "credentials: 'include', headers: {'Content-Type': 'text/plain'}, "
            "body: '{\"role\": \"admin\"}'}).finally(() => { document.title = 'sent'; "
            "document.getElementById('f').submit(); });</script></body></html>"
        )
        with contextmanager(_tab)(browser, pages_service.url, screenshots) as tab:
            tab.open("/dashboard")
            sign_in(tab.page, pages_service.admin_key)
            before = pages_service.client.get("/v1/keys").json()
            with tab.page.expect_response(
                lambda r: (
                    r.request.method == "POST"
                    and r.url.endswith("/v1/keys")
                    and r.request.resource_type == "document"
                )
            ) as refused:
                tab.page.goto(f"{origin}/index.html")
            assert refused.value.status == 403
            assert "X-CSRF-Token" in refused.value.text()
            assert pages_service.client.get("/v1/keys").json() == before
