"""Every service's OpenAPI, fuzzed (schemathesis) against the app on the real broker and store.

For each operation, requests generated from the schema (valid ones with an operator token, or
on the partners gateway's partner routes a partner's token, then invalid ones) must never get a
5xx; every answer must match its documented schema and media
type; invalid data must be refused with a 4xx problem+json; and a protected operation called
without a token, or with a forged one, must answer 401. ``DRIVERHOME_FUZZ_EXAMPLES`` sets the
examples per operation and mode in ``make test`` (default 2: every operation is still called valid
and invalid, and the suite stays near 15 minutes on two cores); ``make test-slow`` fuzzes deeper
(``DRIVERHOME_FUZZ_DEEP_EXAMPLES``, default 25).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from importlib import import_module
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
)

from common.settings import ServiceSettings
from tests.service_apps import SETTINGS, settings_class
from tests.support import serve

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
EXAMPLES = int(os.environ.get("DRIVERHOME_FUZZ_EXAMPLES", "2"))
DEEP_EXAMPLES = int(os.environ.get("DRIVERHOME_FUZZ_DEEP_EXAMPLES", "25"))
SERVICES = SETTINGS
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    negative_data_rejection,
]
FORGED = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4Iiwicm9sZSI6Im9wZXJhdG9yIn0.c2lnbmF0dXJl"


def _app(name: str, make_settings: Callable[..., ServiceSettings]) -> Any:
    return import_module(f"{name}.app").create_app(make_settings(settings_class(name)))


def _summary(case: Any, response: httpx.Response | None, error: BaseException) -> str:
    # The request line and the first line of the failure only: generated bodies may look like
    # (but are not) personal data, and the full case is reproducible from the seed.
    status = response.status_code if response is not None else "-"
    found = getattr(error, "exceptions", None) or [error]
    titles = {
        getattr(e, "title", None) or (str(e).splitlines() or [type(e).__name__])[0] for e in found
    }
    return f"{case.method} {case.formatted_path} -> {status}: {'; '.join(sorted(titles))}"[:300]


def _authorization(name: str, token: Callable[..., dict[str, str]]) -> Callable[[str], str]:
    """The token each path is called with: an operator's, except on the partners gateway's
    partner routes (ingest, receipts, rejections, booking lookups), called as a seeded partner
    holding every scope; its account routes (``/v1/partners``) are the operators'."""
    operator = token("operator")["Authorization"]
    if name != "partners":
        return lambda path: operator
    scopes = "events:write events:read drivers:read"
    partner = token("partner", partner_id="port-booking", scope=scopes)["Authorization"]
    return lambda path: operator if path.startswith("/v1/partners") else partner


def _fuzz(
    schema: Any,
    send: Callable[[dict[str, Any]], httpx.Response],
    auth: Callable[[str], str],
    examples: int,
) -> list[str]:
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        headers = {"Authorization": auth(operation.path)}
        # A protected operation is probed without and with a forged token once, on its first case.
        unprobed = [True] if operation.definition.raw.get("security") else []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode, headers=headers)
            with contextlib.suppress(Unsatisfiable):  # nothing to negate (no parameters, no body)
                _examples(strategy, send, unprobed, failures, examples)
    return sorted(set(failures))


def _examples(
    strategy: Any,
    send: Callable[[dict[str, Any]], httpx.Response],
    unprobed: list[bool],
    failures: list[str],
    examples: int,
) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://test")
        response = None
        try:
            response = send(kwargs)
            case.validate_response(response, checks=CHECKS)
            if response.status_code >= 400:
                kind = response.headers.get("content-type", "")
                assert kind.startswith("application/problem+json"), kind
            if unprobed:
                unprobed.clear()
                for header in (None, FORGED):
                    headers = dict(kwargs.get("headers") or {})
                    headers.pop("Authorization", None)
                    if header:
                        headers["Authorization"] = header
                    anonymous = send({**kwargs, "headers": headers})
                    assert anonymous.status_code == 401, (
                        f"{'forged' if header else 'no'} token: {anonymous.status_code}"
                    )
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(_summary(case, response, exc))

    run()


@pytest.mark.parametrize("name", list(SERVICES))
async def test_no_generated_request_breaks_the_service_or_its_contract(
    name: str,
    make_settings: Callable[..., ServiceSettings],
    token: Callable[..., dict[str, str]],
) -> None:
    await _fuzz_service(name, make_settings, token, EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SERVICES))
async def test_many_generated_requests_break_no_service_nor_its_contract(
    name: str,
    make_settings: Callable[..., ServiceSettings],
    token: Callable[..., dict[str, str]],
) -> None:
    await _fuzz_service(name, make_settings, token, DEEP_EXAMPLES)


async def _fuzz_service(
    name: str,
    make_settings: Callable[..., ServiceSettings],
    token: Callable[..., dict[str, str]],
    examples: int,
) -> None:
    app = _app(name, make_settings)
    async with serve(app) as http:
        loop = asyncio.get_running_loop()
        schema = schemathesis.openapi.from_dict(app.openapi())

        def send(kwargs: dict[str, Any]) -> httpx.Response:
            request = http.request(
                kwargs["method"],
                kwargs["url"],
                headers=kwargs.get("headers"),
                params=kwargs.get("params"),
                json=kwargs.get("json"),
                content=kwargs.get("data"),
            )
            return asyncio.run_coroutine_threadsafe(request, loop).result(timeout=30)

        auth = _authorization(name, token)
        failures = await asyncio.to_thread(_fuzz, schema, send, auth, examples)
    assert not failures, "\n".join(failures)
