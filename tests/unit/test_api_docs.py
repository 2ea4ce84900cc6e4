"""The services' /docs and /redoc pages load only assets the service serves itself."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from common.settings import ServiceSettings
from common.webapp import create_service_app


@asynccontextmanager
async def nothing(app: FastAPI) -> AsyncIterator[None]:
    yield


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = create_service_app(
        ServiceSettings(environment="test", service_name="demo"),
        title="demo",
        description="",
        lifespan=nothing,
        routers=[],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
        yield client


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_api_pages_name_no_other_origin_and_their_assets_are_served(
    http: httpx.AsyncClient, page: str
) -> None:
    html = (await http.get(page)).text
    assert "openapi.json" in html
    assert "cdn.jsdelivr.net" not in html and "fonts.googleapis.com" not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(url.startswith("/docs-assets/") for url in assets), assets
    for url in assets:
        answer = await http.get(url)
        assert answer.status_code == 200 and len(answer.content) > 100, url
    if page == "/docs":
        assert '"validatorUrl": null' in html  # no call to validator.swagger.io either
