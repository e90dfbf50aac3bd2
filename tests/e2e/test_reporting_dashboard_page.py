"""The dashboard page in a real browser: Debian's chromium, driven by Playwright, against the
reporting service run as operators run it (its own process, on the embedded broker and store)
after Kaur's March (7,130 workers over its 15 districts, invoiced and paid Rp119,784,000), the
claims, Kaur's programmes, enrolments and waiting list were published and targets set (70% of a
workforce per district). At a phone's width and a desk's, the page asks for a dashboard key,
Kaur (17.04) and March 2026 are picked, and every figure it shows is the API's own: 7,130
covered against 7,770, 15 district rows and bars, Rp119.784.000 paid, the months, the monitoring
table, a range, "as of". A sponsor key of Kaur sees Kaur alone. Nothing leaves the service's
origin (every request the browser makes is recorded; one to another host fails the test), and
the browser reports no error (the page's Content-Security-Policy would report a stray URL).

``UPDATE_SCREENSHOT=1`` saves the desk-width page to docs/dashboard.png (the README's picture);
otherwise no tracked file is written. Without /usr/bin/chromium the module is skipped, unless
``CI`` is set (CI installs it with ``make system-deps``), where that is a failure."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.e2e.procs import ServiceProcess
from tests.e2e.test_exactly_once import produce, topics_for
from tests.e2e.test_reporting_monitoring import programme_events
from tests.harness import ADMIN_KEY, eventually
from tests.integration.test_reporting_programmes import KAUR_BUDGET
from tests.reporting_events import KAUR_DISTRICTS, KAUR_MONTH, MONTHLY, all_events, worker_events

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
#: Kaur's vulnerable workforce per district (600, 620, … 880) and in all (11,100); each
#: region's target is 70% of it (420 … 616 workers; 7,770 for Kaur).
WORKFORCE = {code: 600 + 20 * i for i, code in enumerate(KAUR_DISTRICTS)}
WORKFORCE["17.04"] = sum(WORKFORCE.values())
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1366, "height": 900}


def dots(n: int) -> str:
    """A count as Indonesians write it: 7.130."""
    return f"{n:,}".replace(",", ".")


def money(rupiah: int) -> str:
    return "Rp" + dots(rupiah)


MONTHS = "Jan Feb Mar Apr Mei Jun Jul Agu Sep Okt Nov Des".split()


def jakarta(iso: str) -> str:
    """An instant as the page writes it: 24 Nov 2026, 08.42 WIB."""
    t = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo("Asia/Jakarta"))
    return f"{t.day} {MONTHS[t.month - 1]} {t.year}, {t:%H.%M} WIB"


@pytest.fixture(scope="module")
def chromium() -> str:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: `make system-deps` installs Debian's chromium"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return str(CHROMIUM)


@pytest.fixture(scope="module")
async def browser(chromium: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox"], headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="module")
async def service(infra: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The reporting service on a port of its own, with every event of the scenario
    projected; its URL."""
    prefix = f"d{uuid.uuid4().hex[:8]}."
    await topics_for(infra, prefix)
    await produce(infra, prefix, programme_events() + all_events() + worker_events())
    process = ServiceProcess(infra, prefix, "reporting", tmp_path_factory.mktemp("dashboard"))
    try:
        process.wait_ready()
        async with process.client() as admin:

            async def counted() -> tuple[int, ...]:
                contributions = (await admin.get("/contributions", params={"region": "17"})).json()
                benefits = (await admin.get("/benefits")).json()
                kaur = (await admin.get("/coverage", params={"region": "17.04"})).json()
                monitoring = await admin.get("/monitoring", params={"province": "17", "year": 2026})
                budget = {r["region"]: r["budget_rupiah"] for r in monitoring.json()["rows"]}
                return (
                    contributions["invoiced"]["rupiah"],
                    benefits["benefits_paid"]["rupiah"],
                    kaur["registered"],
                    kaur["waiting"],
                    budget["17.04"],
                )

            # Every invoice (Kaur's March, Kepahiang's March and April), every benefit, the 30
            # enrolments and 3 still waiting, and Kaur's programme at its raised budget.
            expected = (KAUR_MONTH + 2 * 42 * MONTHLY, 47_000_000, 30, 3, KAUR_BUDGET)
            await eventually(counted, lambda n: n == expected, timeout=60)
            for region, workforce in WORKFORCE.items():
                answer = await admin.put(
                    f"/targets/{region}/2026",
                    json={"workforce": workforce, "target_percent": 70, "source": "test"},
                )
                assert answer.status_code == 200, answer.text
        yield process.url
    finally:
        process.stop()


@pytest.fixture(scope="module")
async def key(service: str) -> str:
    """A dashboard key, once the service has recorded it (from its own event)."""
    async with httpx.AsyncClient(base_url=service, timeout=30) as client:
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        issued = await client.post(
            "/admin/api-keys",
            json={"role": "dashboard", "label": "Bengkulu province dashboard"},
            headers=admin,
        )
        assert issued.status_code == 201, issued.text
        secret: str = issued.json()["key"]

        async def status() -> int:
            answer = await client.get("/coverage", headers={"Authorization": f"Bearer {secret}"})
            return answer.status_code

        await eventually(status, lambda code: code == 200, timeout=30)
        return secret


async def read(service: str, key: str, path: str, **params: str) -> Any:
    async with httpx.AsyncClient(base_url=service, timeout=30) as client:
        answer = await client.get(path, params=params, headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200, answer.text
        return answer.json()


async def not_modified(service: str) -> float:
    """How many 304 answers the service has given to GET /coverage (its own metrics)."""
    async with httpx.AsyncClient(base_url=service, timeout=30) as client:
        text = (await client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"})).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("bpu_http_requests_total{")
        and 'route="/coverage"' in line
        and 'status="304"' in line
    )


class Visit:
    """One browser context on the page, recording every request and every error."""

    def __init__(self, service: str) -> None:
        self.origin = urlsplit(service).netloc
        self.requests: list[str] = []
        self.elsewhere: list[str] = []
        self.errors: list[str] = []

    async def open(self, browser: Any, viewport: dict[str, int], key: str) -> Any:
        """The page with the key entered, Kaur and March 2026 picked."""
        page = await self.start(browser, viewport, key)
        await page.get_by_test_id("province").select_option("17")
        await page.wait_for_selector(
            '[data-testid="regency"] option[value="17.04"]', state="attached"
        )
        await page.get_by_test_id("regency").select_option("17.04")
        await show_month(page, "2026-03")
        return page

    async def start(
        self, browser: Any, viewport: dict[str, int], key: str, state: str = "ready"
    ) -> Any:
        """The page with the key entered and its first figures shown (or, for a key refused,
        the key asked for again)."""
        context = await browser.new_context(viewport=viewport, locale="id-ID")

        async def route(route: Any) -> None:
            url = route.request.url
            self.requests.append(url)
            if urlsplit(url).netloc == self.origin:
                await route.continue_()
            else:
                self.elsewhere.append(url)
                await route.abort()

        await context.route("**/*", route)
        page = await context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )
        await page.goto(f"http://{self.origin}/dashboard")
        await page.get_by_test_id("api-key").fill(key)
        await page.get_by_test_id("key-submit").click()
        await page.wait_for_selector(f'body[data-state="{state}"]')
        return page


async def show_month(page: Any, month: str) -> None:
    region = await page.evaluate(
        "document.getElementById('regency').value || document.getElementById('province').value"
    )
    await page.get_by_test_id("mode-month").check()
    await page.get_by_test_id("month").fill(month)
    await page.get_by_test_id("show").click()
    await page.wait_for_selector(f'body[data-state="ready"][data-shown="{region}|{month}"]')


async def texts(page: Any, testid: str) -> list[str]:
    found: list[str] = await page.get_by_test_id(testid).all_inner_texts()
    return [t.strip() for t in found]


async def shows_what_the_api_answers(page: Any, service: str, key: str) -> None:
    coverage = await read(service, key, "/coverage", region="17.04", period="2026-03")
    contributions = await read(service, key, "/contributions", region="17.04", period="2026-03")
    benefits = await read(service, key, "/benefits", region="17.04", period="2026-03")
    freshness = await read(service, key, "/freshness")

    # The totals.
    assert coverage["covered"] == contributions["workers_covered"] == 7_130
    assert await texts(page, "total-covered") == [dots(coverage["covered"])] == ["7.130"]
    for field in ("enrolled", "in_arrears", "waiting"):
        testid = "total-" + field.replace("_", "-")
        assert await texts(page, testid) == [dots(coverage[field])], field
    assert contributions["paid"]["formatted"] == "Rp119.784.000"
    assert await texts(page, "total-paid") == ["Rp119.784.000"]
    assert await texts(page, "total-invoiced") == [contributions["invoiced"]["formatted"]]
    assert await texts(page, "total-outstanding") == [contributions["outstanding"]["formatted"]]
    assert benefits["benefits_paid"]["rupiah"] == 43_500_000
    assert await texts(page, "total-benefits-paid") == ["Rp43.500.000"]

    # Covered against Kaur's target (70% of 11,100 = 7,770), in the API's own sentence.
    target = coverage["target"]
    assert (target["target_workers"], target["covered_pct_of_target"]) == (7_770, 91.8)
    figures = (await texts(page, "target-figures"))[0]
    assert "7.770 workers" in figures and "91,8% of the target" in figures, figures
    assert await texts(page, "target-sentence") == [target["sentence"]]

    # The districts: one row and one bar each, covered, target and paid the API's.
    assert coverage["breakdown_level"] == "district"
    by_code = {row["region"]: row for row in coverage["breakdown"]}
    paid = {row["region"]: row["paid"]["formatted"] for row in contributions["breakdown"]}
    assert list(by_code) == list(paid) == KAUR_DISTRICTS
    districts = page.get_by_test_id("district-row")
    assert await districts.count() == 15
    assert await page.get_by_test_id("district-bar").count() == 15
    shown_codes = [
        await districts.nth(i).get_attribute("data-region") for i in range(await districts.count())
    ]
    assert shown_codes == KAUR_DISTRICTS
    covered = [by_code[c]["covered"] for c in KAUR_DISTRICTS]
    assert sum(covered) == 7_130
    assert await texts(page, "row-covered") == [dots(n) for n in covered]
    targets = [by_code[c]["target"]["target_workers"] for c in KAUR_DISTRICTS]
    assert (targets[0], targets[-1]) == (420, 616)
    assert await texts(page, "row-target") == [dots(n) for n in targets]
    assert await texts(page, "row-paid") == [paid[c] for c in KAUR_DISTRICTS]
    bars = await texts(page, "bar-value")
    assert bars[0] == "476 / 420 (113,3%)" and bars[-1] == "475 / 616 (77,1%)", bars

    assert await texts(page, "scope-name") == ["Kabupaten Kaur, Bengkulu (17.04)"]
    assert await texts(page, "scope-period") == ["Mar 2026"]
    # "as of" the newest event applied, in Jakarta's time, from GET /freshness.
    assert await texts(page, "as-of") == [f"as of {jakarta(freshness['as_of'])}"]


async def test_the_page_on_a_phone_shows_kaurs_march_in_one_column(
    browser: Any, service: str, key: str
) -> None:
    visit = Visit(service)
    page = await visit.open(browser, PHONE, key)
    await shows_what_the_api_answers(page, service, key)
    # Readable on a phone: no sideways scrolling of the page, the figures one under another
    # and large.
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px phone"
    cards = page.locator(".totals .card")
    lefts = {round((await cards.nth(i).bounding_box())["x"]) for i in range(await cards.count())}
    assert len(lefts) == 1, f"totals in {len(lefts)} columns on a phone"
    for testid in ("province", "regency", "month", "show"):
        box = await page.get_by_test_id(testid).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], testid
    size = await page.get_by_test_id("total-covered").evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)"
    )
    assert size >= 28
    assert visit.elsewhere == []
    assert visit.errors == []
    await page.context.close()


async def test_the_page_at_a_desk_and_nothing_leaves_the_origin(
    browser: Any, service: str, key: str, tmp_path: Path
) -> None:
    visit = Visit(service)
    page = await visit.open(browser, DESK, key)
    await shows_what_the_api_answers(page, service, key)
    # Two columns or more at a desk.
    cards = page.locator(".totals .card")
    lefts = {round((await cards.nth(i).bounding_box())["x"]) for i in range(await cards.count())}
    assert len(lefts) >= 2

    # The months: April 2025 to March 2026 by month, March's figures the API's.
    months = {"from": "2025-04", "to": "2026-03", "by": "month"}
    coverage_months = await read(service, key, "/coverage", region="17.04", **months)
    contributions_months = await read(service, key, "/contributions", region="17.04", **months)
    benefits_months = await read(service, key, "/benefits", region="17.04", **months)
    assert coverage_months["breakdown_level"] == "month"
    assert await page.get_by_test_id("month-row").count() == 12
    march = page.locator('[data-testid="month-row"][data-month="2026-03"] td')
    expected = [
        dots(coverage_months["breakdown"][-1]["covered"]),
        dots(coverage_months["breakdown"][-1]["enrolled"]),
        dots(coverage_months["breakdown"][-1]["in_arrears"]),
        contributions_months["breakdown"][-1]["invoiced"]["formatted"],
        contributions_months["breakdown"][-1]["paid"]["formatted"],
        benefits_months["breakdown"][-1]["benefits_paid"]["formatted"],
    ]
    assert expected == ["7.130", "7.130", "0", "Rp119.784.000", "Rp119.784.000", "Rp43.500.000"]
    assert [await march.nth(i).text_content() for i in range(6)] == expected
    for chart in ("chart-coverage", "chart-contributions", "chart-benefits"):
        assert await page.locator(f"#{chart}").is_visible(), chart
    assert await texts(page, "chart-range") == ["Apr 2025 – Mar 2026"]

    # The monitoring table of Bengkulu, where the service answers it.
    async with httpx.AsyncClient(base_url=service, timeout=30) as client:
        answer = await client.get(
            "/monitoring",
            params={"province": "17", "year": "2026", "period": "2026-03"},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert answer.status_code == 200, answer.text
    regencies = answer.json()["rows"]
    assert await page.get_by_test_id("monitoring-row").count() == len(regencies) == 10
    kaur = page.locator('[data-testid="monitoring-row"][data-region="17.04"] td')
    kaurs = next(r for r in regencies if r["region"] == "17.04")
    assert (kaurs["covered"], kaurs["target_workers"]) == (7_130, 7_770)
    shown = [await kaur.nth(i).inner_text() for i in range(9)]
    assert shown == [
        "yes",
        money(kaurs["budget_rupiah"]),
        "7.130",
        "7.770",
        "91,8%",
        "Rp119.784.000",
        "Rp119.784.000",
        "Rp43.500.000",
        dots(kaurs["waiting"]),
    ]
    assert kaurs["budget_rupiah"] == KAUR_BUDGET

    # The answers saved as files: the monitoring table's CSV is the API's, byte for byte.
    async with page.expect_download() as caught:
        await page.get_by_test_id("monitoring-csv").click()
    saved = await (await caught.value).path()
    async with httpx.AsyncClient(base_url=service, timeout=30) as client:
        csv = await client.get(
            "/monitoring",
            params={"province": "17", "year": "2026", "period": "2026-03", "format": "csv"},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert csv.status_code == 200 and "17.04" in csv.text
    assert await asyncio.to_thread(Path(saved).read_bytes) == csv.content

    # Shown again, nothing changed: where the API gives ETags, the page asks with
    # If-None-Match, the service answers 304 Not Modified and the page shows the same.
    before = await not_modified(service)
    await page.get_by_test_id("show").click()
    await page.wait_for_selector('body[data-state="ready"][data-shown="17.04|2026-03"]')
    async with httpx.AsyncClient(base_url=service, timeout=30) as client:
        tagged = await client.get(
            "/coverage",
            params={"region": "17.04", "period": "2026-03"},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert "etag" in tagged.headers
    assert await not_modified(service) > before
    assert await texts(page, "total-covered") == ["7.130"]

    # The picture in the README: Kaur's March at a desk.
    picture = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") == "1" else tmp_path / "dash.png"
    await page.screenshot(path=str(picture), full_page=True)

    # A range: March to April, the totals the API's for the range.
    await page.get_by_test_id("mode-range").check()
    await page.get_by_test_id("from").fill("2026-03")
    await page.get_by_test_id("to").fill("2026-04")
    await page.get_by_test_id("show").click()
    await page.wait_for_selector('body[data-state="ready"][data-shown="17.04|2026-03..2026-04"]')
    spring = {"from": "2026-03", "to": "2026-04"}
    spring_money = await read(service, key, "/contributions", region="17.04", **spring)
    spring_workers = await read(service, key, "/coverage", region="17.04", **spring)
    assert (spring_money["from"], spring_money["to"]) == ("2026-03", "2026-04")
    assert spring_money["paid"]["rupiah"] == KAUR_MONTH
    assert await texts(page, "total-paid") == ["Rp119.784.000"]
    assert await texts(page, "total-covered") == [dots(spring_workers["covered"])]
    assert spring_workers["month"] == "2026-04"
    assert "Apr 2026, the range's last month" in (await texts(page, "totals-note"))[0]
    assert await texts(page, "scope-period") == ["Mar 2026 – Apr 2026"]
    assert page.url.endswith("#region=17.04&from=2026-03&to=2026-04")

    # Every request went to the service itself: the page, its script and style, the chart
    # library, and the API.
    paths = {urlsplit(url).path for url in visit.requests}
    assert {"/dashboard", "/dashboard/static/vendor/chart.umd.js", "/coverage"} <= paths
    assert {urlsplit(url).netloc for url in visit.requests} == {visit.origin}
    assert visit.elsewhere == []
    assert visit.errors == []

    # The page and its files need no key; the figures do; nothing else is served from static/.
    async with httpx.AsyncClient(base_url=service, timeout=30) as anonymous:
        html = await anonymous.get("/dashboard")
        assert html.status_code == 200
        assert html.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in html.headers["content-security-policy"]
        assert (await anonymous.get("/dashboard/static/dashboard.js")).status_code == 200
        assert (await anonymous.get("/dashboard/static/dashboard.html")).status_code == 404
        assert (await anonymous.get("/dashboard/static/../app.py")).status_code == 404
        assert (await anonymous.get("/coverage", params={"region": "17.04"})).status_code == 401

    await page.context.close()


async def test_a_sponsor_key_of_kaur_sees_kaur_alone(browser: Any, service: str, key: str) -> None:
    async with httpx.AsyncClient(base_url=service, timeout=30) as client:
        issued = await client.post(
            "/admin/api-keys",
            json={"role": "sponsor", "region_scope": "17.04", "label": "Kaur BPKAD"},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        )
        assert issued.status_code == 201, issued.text
        sponsor: str = issued.json()["key"]

        async def status() -> int:
            answer = await client.get("/coverage", headers={"Authorization": f"Bearer {sponsor}"})
            return answer.status_code

        await eventually(status, lambda code: code == 200, timeout=30)
    visit = Visit(service)
    # A key the service does not know: asked for again, with the reason.
    page = await visit.start(browser, PHONE, "bpu_not-a-key", state="key")
    assert await texts(page, "key-error") == ["This key is not known to the service."]
    assert [e for e in visit.errors if "401" not in e] == []
    visit.errors.clear()
    await page.get_by_test_id("api-key").fill(sponsor)
    await page.get_by_test_id("key-submit").click()
    await page.wait_for_selector('body[data-state="ready"]')
    province = page.get_by_test_id("province")
    assert await province.locator("option").all_inner_texts() == ["17.04 Kabupaten Kaur, Bengkulu"]
    assert await page.get_by_test_id("regency").is_disabled()
    await show_month(page, "2026-03")
    assert await texts(page, "total-covered") == ["7.130"]
    assert await texts(page, "total-paid") == ["Rp119.784.000"]
    assert await page.get_by_test_id("district-row").count() == 15
    # Its monitoring table: its own row only.
    rows = page.get_by_test_id("monitoring-row")
    assert [await rows.nth(i).get_attribute("data-region") for i in range(await rows.count())] == [
        "17.04"
    ]
    assert visit.elsewhere == [] and visit.errors == []
    await page.context.close()


def test_every_file_the_page_loads_is_in_the_package_and_served() -> None:
    """The page's script, style and chart library are files of the installed package (the
    wheel carries static/), each one on the list the route serves; the chart library is the
    version the vendoring script recorded."""
    from bpu_reporting.api.dashboard import FILES, STATIC

    html = (STATIC / "dashboard.html").read_text()
    loaded = set(re.findall(r'(?:src|href)="/dashboard/static/([^"]+)"', html))
    assert loaded == {
        "dashboard.css",
        "dashboard.js",
        "vendor/chart.umd.js",
        "vendor/chart.js-LICENSE.md",
    }
    assert loaded <= set(FILES)
    assert all((STATIC / name).is_file() for name in FILES)
    version = (STATIC / "vendor" / "chart.js-VERSION").read_text().strip()
    assert (
        (STATIC / "vendor" / "chart.umd.js")
        .read_text()
        .startswith(f"/*!\n * Chart.js v{version}\n")
    )
    assert "MIT" in (STATIC / "vendor" / "chart.js-LICENSE.md").read_text()
