"""Write docs/routes.md: every HTTP route each service serves (``make schemas``).

Built from the checked-in OpenAPI documents in docs/openapi/ (``scripts/asyncapi.py`` writes
them from the apps), so no app is started or even imported here: one row per operation, with
its method, path, the operation's summary and the guide that describes it, found by the
longest path prefix in ``GUIDES`` below. docs/api.md keeps the hand-written detail (callers,
answers, refusals). ``tests/unit/test_docs_current.py`` fails when docs/routes.md differs from
what this produces.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1] / "docs"
ROUTES_MD = DOCS / "routes.md"

# The order of the sections (docs/api.md's); a service whose document is not listed here
# follows, by name.
SERVICES = ("registry", "points", "stations", "notify", "cases", "partners")
METHODS = ("get", "post", "put", "patch", "delete", "head", "options")

# Routes every service serves the same way (common.webapp, dlq_api, approvals_api).
COMMON_GUIDES: dict[str, str] = {
    "/healthz": "api.md#every-service-operations-endpoints",
    "/readyz": "api.md#every-service-operations-endpoints",
    "/metrics": "api.md#every-service-operations-endpoints",
    "/v1/dlq": "api.md#dead-letters-and-consumer-lag-the-operations-role",
    "/v1/consumers": "api.md#dead-letters-and-consumer-lag-the-operations-role",
    "/v1/approvals": "api.md#four-eyes-writes-a-second-person-approves",
}

# Per service: path prefix -> the guide (and section) describing the routes below it; the
# prefix "" is the service's own guide. The longest matching prefix wins, whole segments only.
GUIDES: dict[str, dict[str, str]] = {
    "registry": {
        "": "registry.md",
        "/v1/census": "registry.md#census-the-quarterly-verification",
        "/v1/reviews": "registry.md#the-review-queue",
        "/v1/people": "registry.md#the-district-trees-people-in-roles-route-grids-issue-16",
        "/v1/route-grids": "registry.md#the-district-trees-people-in-roles-route-grids-issue-16",
        "/v1/district": "registry.md#the-district-trees-people-in-roles-route-grids-issue-16",
        "/v1/passes": "registry.md#vehicles-and-port-passes",
    },
    "points": {
        "": "points.md",
        "/v1/rewards": "points.md#the-points-mall",
        "/v1/redemptions": "points.md#the-points-mall",
        "/v1/vouchers": "points.md#vouchers-collected-at-a-counter-that-is-offline",
        "/v1/statements": "points.md#statements-for-school-admission",
        "/v1/leaderboards": "points.md#leaderboards",
        "/v1/figures/day": "points.md#a-days-figures-the-consoles-home-page",
        "/v1/grades": "points.md#credit-grades",
        "/v1/rules": "points.md#earning-rules",
        "/v1/held-events": "points.md#which-event-times-are-accepted",
        "/v1/jobs/expiry": "points.md#expiry",
    },
    "stations": {
        "": "stations.md",
        "/v1/networks": "stations.md#the-1xy-network-issue-16",
        "/v1/lifecycle": "stations.md#the-life-cycle-catalogue-issue-16",
        "/v1/checkins": "stations.md#check-ins",
        "/v1/stations/nearby": "stations.md#nearest-stations",
        "/v1/service-circle": "stations.md#the-service-circle-in-minutes",
        "/v1/activities": "stations.md#activities-and-feedback",
    },
    "notify": {
        "": "notify.md",
        "/v1/broadcasts": "notify.md#broadcasts",
        "/v1/templates": "notify.md#templates",
        "/v1/deliveries": "notify.md#delivery-tracking-and-events",
    },
    "cases": {
        "": "cases.md",
        "/v1/aid": "cases.md#aid-applications",
        "/v1/aid/campaigns": "cases.md#festival-campaigns",
        "/v1/aid/visits": "cases.md#hardship-visits",
        "/v1/aid/drivers/{driver_id}/visits": "cases.md#hardship-visits",
        "/v1/calendars": "cases.md#the-yearly-calendar-routine",
        "/v1/dossiers": "cases.md#care-brokers",
        "/v1/brokers": "cases.md#care-brokers",
        "/v1/figures": "cases.md#figures",
        "/v1/help": "mutual-help.md",
        "/v1/honours": "honours.md",
        "/v1/party": "party-life.md",
        "/v1/commitments": "commitments.md",
    },
    "partners": {
        "": "partners.md",
        "/v1/rejections": "partners.md#5-rejections",
        "/v1/partners/{partner_id}/rejections": "partners.md#5-rejections",
        "/v1/partners/{partner_id}/keys": "partners.md#api-keys",
    },
}


INTRO = """\
Every HTTP route the services serve: {total} operations in {services} services, one row per
method and path, taken from the OpenAPI documents in [`openapi/`](openapi/) (which a test keeps
equal to what the apps serve). The summary is the operation's own; the last column names the
guide that describes the route. Who may call a route, its answers and its refusals:
[api.md](api.md) for the shared rules and the main endpoints, and the guide named. Every
service also serves its API documentation, which its OpenAPI document leaves out:
`/openapi.json`, `/docs` (with `/docs/oauth2-redirect`), `/redoc` and `/docs-assets/…`. The
operator console (`services/console`) serves web pages, not an API: [console.md](console.md)."""


def openapi_documents() -> dict[str, dict[str, Any]]:
    """Service name -> its OpenAPI document, as checked in."""
    found = {p.stem: p for p in (DOCS / "openapi").glob("*.json")}
    order = [s for s in SERVICES if s in found] + sorted(set(found) - set(SERVICES))
    return {name: json.loads(found[name].read_text()) for name in order}


def routes(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(METHOD, path, summary) of every operation, by path, then in METHODS order."""
    rows = []
    for path in sorted(document.get("paths", {})):
        item = document["paths"][path]
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            summary = operation.get("summary") or ""
            if operation.get("deprecated"):
                summary = f"(deprecated) {summary}".strip()
            rows.append((method.upper(), path, summary))
    return rows


def _covers(prefix: str, path: str) -> bool:
    return prefix in ("", path) or path.startswith(prefix + "/")


def guide(service: str, path: str) -> str:
    """The guide (``file.md`` or ``file.md#section``) describing ``path``, or ""."""
    choices = {**GUIDES.get(service, {}), **COMMON_GUIDES}
    matching = [prefix for prefix in choices if _covers(prefix, path)]
    return choices[max(matching, key=len)] if matching else ""


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(name: str) -> set[str]:
    text = (DOCS / name).read_text()
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def check_guides() -> None:
    """Every guide named exists and so does its section: a renamed heading fails here."""
    targets = set(COMMON_GUIDES.values()) | {t for g in GUIDES.values() for t in g.values()}
    for target in sorted(targets):
        name, _, anchor = target.partition("#")
        if not (DOCS / name).is_file():
            raise ValueError(f"docs/{name} (named for routes) does not exist")
        if anchor and anchor not in _anchors(name):
            raise ValueError(f"docs/{name} has no section #{anchor} (named for routes)")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    check_guides()
    documents = openapi_documents()
    total = sum(len(routes(d)) for d in documents.values())
    lines = [
        "# Every route",
        "",
        "<!-- Generated by scripts/routes_doc.py from docs/openapi/*.json (make schemas); "
        "do not edit by hand. -->",
        "",
        INTRO.format(total=total, services=len(documents)),
        "",
        "| service | operations |",
        "|---|---|",
        *(f"| [{name}](#{name}) | {len(routes(d))} |" for name, d in documents.items()),
    ]
    for name, document in documents.items():
        title = document.get("info", {}).get("title", name)
        lines += [
            "",
            f"## {name}",
            "",
            f"{_cell(title)}: [`openapi/{name}.json`](openapi/{name}.json).",
            "",
            "| method | path | summary | described in |",
            "|---|---|---|---|",
        ]
        for method, path, summary in routes(document):
            target = guide(name, path)
            described = f"[{target.split('#')[0]}]({target})" if target else ""
            lines.append(f"| {method} | `{path}` | {_cell(summary)} | {described} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ROUTES_MD.write_text(render())
    print(f"wrote {ROUTES_MD}")


if __name__ == "__main__":
    main()
