"""GET /dashboard: the page a regent's office or the province reads at a glance, and its static
files (script, style, the vendored chart library), served from the package. The page and its
files need no key; the page asks for a dashboard key and sends it on every API call it makes,
so the figures are guarded exactly as the API guards them."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from bpu_shared.errors import NotFound

router = APIRouter(tags=["dashboard"])

STATIC = Path(__file__).resolve().parent.parent / "static"

#: Every file the page loads, and its media type: nothing else under static/ is served.
FILES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "vendor/chart.umd.js": "text/javascript; charset=utf-8",
    "vendor/chart.js-LICENSE.md": "text/markdown; charset=utf-8",
}

#: The page talks to its own origin only: no CDN, no font, no beacon (the browser refuses
#: anything else, so a stray URL shows up as an error rather than a silent request).
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidated each time (the ETag FileResponse sets answers 304): a new release shows.
    "Cache-Control": "no-cache",
}


@router.get(
    "/dashboard",
    response_class=FileResponse,
    summary="The dashboard page (asks for a dashboard key, then reads the API with it)",
    responses={200: {"content": {"text/html": {}}}},
)
async def dashboard() -> FileResponse:
    return FileResponse(
        STATIC / "dashboard.html", media_type="text/html; charset=utf-8", headers=HEADERS
    )


@router.get("/dashboard/static/{name:path}", include_in_schema=False)
async def dashboard_file(name: str) -> FileResponse:
    media_type = FILES.get(name)
    if media_type is None:
        raise NotFound("dashboard file", name)
    return FileResponse(STATIC / name, media_type=media_type, headers=HEADERS)
