"""The services' API documentation pages, with every asset served by the service itself.

FastAPI's own ``/docs`` and ``/redoc`` load Swagger UI, ReDoc and a font from public CDNs, which
a district's intranet cannot reach. These routes render the same pages from the files vendored
in ``common/static/`` (see its README): no request leaves the service.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).parent / "static"
PREFIX = "/docs-assets"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"


def install_api_docs(app: FastAPI, title: str, openapi_url: str = "/openapi.json") -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` from vendored assets; the app is built with
    ``docs_url=None, redoc_url=None`` so FastAPI adds none of its CDN pages."""
    app.mount(PREFIX, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} · API",
            oauth2_redirect_url=OAUTH2_REDIRECT,
            swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/favicon-32x32.png",
            # Swagger UI would otherwise ask validator.swagger.io about every non-local spec.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    async def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} · API",
            redoc_js_url=f"{PREFIX}/redoc.standalone.js",
            redoc_favicon_url=f"{PREFIX}/favicon-32x32.png",
            with_google_fonts=False,
        )
