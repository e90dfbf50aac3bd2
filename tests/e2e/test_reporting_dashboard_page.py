"""The dashboard page in a real browser: Debian's chromium, driven by Playwright, against the
reporting service run as operators run it (its own process, on the embedded broker and store)
after Kaur's March (7,130 workers over its 15 districts, invoiced and paid Rp119,784,000) and
the claims were published. At a phone's width and a desk's, the page asks for a dashboard key,
Kaur (17.04) and March 2026 are picked, and every figure it shows is the API's own: 7,130
covered, 15 district rows and bars, Rp119.784.000 paid. Nothing leaves the service's origin
(every request the browser makes is recorded; one to another host fails the test), and the
browser reports no error (the page's Content-Security-Policy would report a stray URL).

``UPDATE_SCREENSHOT=1`` saves the desk-width page to docs/dashboard.png (the README's picture);
otherwise no tracked file is written. Without /usr/bin/chromium the module is skipped, unless
``CI`` is set (CI installs it with ``make system-deps``), where that is a failure."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.procs import ServiceProcess
from tests.e2e.test_exactly_once import produce, topics_for
from tests.harness import ADMIN_KEY, eventually
from tests.reporting_events import KAUR_DISTRICTS, MONTHLY, all_events

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
KAUR_MONTH = 119_784_000
#: Kaur's vulnerable workforce per district (600, 620, … 880) and in all (11,100); each
#: region's target is 70% of it (420 … 616 workers; 7,770 for Kaur).
WORKFORCE = {code: 600 + 20 * i for i, code in enumerate(KAUR_DISTRICTS)}
WORKFORCE["17.04"] = sum(WORKFORCE.values())
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1366, "height": 900}


def dots(n: int) -> str:
    """A count as Indonesians write it: 7.130."""
    return f"{n:,}".replace(",", ".")


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
    await produce(infra, prefix, all_events())
    process = ServiceProcess(infra, prefix, "reporting", tmp_path_factory.mktemp("dashboard"))
    try:
        process.wait_ready()
        async with process.client() as admin:

            async def counted() -> tuple[int, int]:
                contributions = (await admin.get("/contributions", params={"region": "17"})).json()
                benefits = (await admin.get("/benefits")).json()
                return contributions["invoiced"]["rupiah"], benefits["benefits_paid"]["rupiah"]

            # Every invoice (Kaur's March, Kepahiang's March and April) and every benefit.
            await eventually(
                counted, lambda n: n == (KAUR_MONTH + 2 * 42 * MONTHLY, 47_000_000), timeout=60
            )
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
        await page.wait_for_selector('body[data-state="ready"]')
        await page.get_by_test_id("province").select_option("17")
        await page.wait_for_selector(
            '[data-testid="regency"] option[value="17.04"]', state="attached"
        )
        await page.get_by_test_id("regency").select_option("17.04")
        await page.get_by_test_id("mode-month").check()
        await page.get_by_test_id("month").fill("2026-03")
        await page.get_by_test_id("show").click()
        await page.wait_for_selector('body[data-state="ready"][data-shown="17.04|2026-03"]')
        return page


async def texts(page: Any, testid: str) -> list[str]:
    found: list[str] = await page.get_by_test_id(testid).all_inner_texts()
    return [t.strip() for t in found]


async def shows_what_the_api_answers(page: Any, service: str, key: str) -> None:
    coverage = await read(service, key, "/coverage", region="17.04", period="2026-03")
    contributions = await read(service, key, "/contributions", region="17.04", period="2026-03")
    benefits = await read(service, key, "/benefits", region="17.04", period="2026-03")

    covered = coverage.get("covered", contributions["workers_covered"])
    assert covered == 7_130
    assert await texts(page, "total-covered") == [dots(covered)] == ["7.130"]
    assert await texts(page, "total-paid") == [contributions["paid"]["formatted"]]
    assert contributions["paid"]["formatted"] == "Rp119.784.000"
    assert await texts(page, "total-invoiced") == ["Rp119.784.000"]
    assert await texts(page, "total-outstanding") == [contributions["outstanding"]["formatted"]]
    assert await texts(page, "total-benefits-paid") == [benefits["benefits_paid"]["formatted"]]
    assert benefits["benefits_paid"]["rupiah"] > 0
    for field, testid in (("enrolled", "total-enrolled"), ("in_arrears", "total-in-arrears")):
        shown = await texts(page, testid)
        assert shown == [dots(coverage[field]) if field in coverage else shown[0]]

    # The districts: one row and one bar each, the covered and paid figures the API's.
    rows = {row["region"]: row for row in contributions["breakdown"]}
    assert list(rows) == KAUR_DISTRICTS
    districts = page.get_by_test_id("district-row")
    assert await districts.count() == 15
    assert await page.get_by_test_id("district-bar").count() == 15
    shown_codes = [
        await districts.nth(i).get_attribute("data-region") for i in range(await districts.count())
    ]
    assert shown_codes == KAUR_DISTRICTS
    by_code = {row["region"]: row for row in coverage["breakdown"]}
    expected_covered = [
        dots(by_code[c].get("covered", rows[c]["workers_covered"])) for c in KAUR_DISTRICTS
    ]
    assert await texts(page, "row-covered") == expected_covered
    assert sum(int(t.replace(".", "")) for t in expected_covered) == 7_130
    assert await texts(page, "row-paid") == [rows[c]["paid"]["formatted"] for c in KAUR_DISTRICTS]
    first_bar = await texts(page, "bar-value")
    assert first_bar[0].startswith(dots(rows["17.04.01"]["workers_covered"]))

    if coverage.get("target") is not None:  # the answer reads covered against the target
        target = coverage["target"]
        assert target["target_workers"] == 7_770
        assert f"{dots(7_770)} workers" in (await texts(page, "target-figures"))[0]
        assert await texts(page, "target-sentence") == [target["sentence"]]
        assert await texts(page, "row-target") == [
            dots(by_code[c]["target"]["target_workers"]) for c in KAUR_DISTRICTS
        ]
        assert by_code["17.04.15"]["target"]["target_workers"] == 616

    assert (await texts(page, "scope-name"))[0].endswith("(17.04)")
    assert await texts(page, "scope-period") == ["Mar 2026"]
    as_of = (await texts(page, "as-of"))[0]
    assert as_of.startswith("as of ") and as_of.endswith("WIB"), as_of


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

    # The months: drawn where the service answers by month, said so where it does not.
    monthly = await read(
        service,
        key,
        "/contributions",
        region="17.04",
        **{"from": "2025-04", "to": "2026-03"},
        by="month",
    )
    if monthly.get("breakdown_level") == "month":
        march = page.locator('[data-testid="month-row"][data-month="2026-03"] td')
        assert await march.nth(4).text_content() == "Rp119.784.000"
        assert await page.locator("#chart-contributions").is_visible()
    else:
        assert await page.get_by_test_id("chart-contributions").locator(".missing").is_visible()

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
    assert await kaur.nth(2).inner_text() == "7.130"
    assert await kaur.nth(3).inner_text() == "7.770"
    assert await kaur.nth(6).inner_text() == "Rp119.784.000"

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
    if "etag" in tagged.headers:
        assert await not_modified(service) > before
    assert await texts(page, "total-covered") == ["7.130"]

    # A range: March to April, the totals the API's for the range.
    await page.get_by_test_id("mode-range").check()
    await page.get_by_test_id("from").fill("2026-03")
    await page.get_by_test_id("to").fill("2026-04")
    await page.get_by_test_id("show").click()
    await page.wait_for_selector('body[data-state="ready"][data-shown="17.04|2026-03..2026-04"]')
    spring = await read(
        service, key, "/contributions", region="17.04", **{"from": "2026-03", "to": "2026-04"}
    )
    if spring.get("from") == "2026-03":
        assert await texts(page, "total-paid") == [spring["paid"]["formatted"]]
        assert spring["paid"]["rupiah"] == KAUR_MONTH
    else:
        assert await texts(page, "total-paid") == ["—"]
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

    target = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") == "1" else tmp_path / "dash.png"
    await page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000
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
