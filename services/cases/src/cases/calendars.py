"""Use cases of the business calendar: load a year's notice, follow other instances' loads,
count the affected deadlines again, and warn while next year is missing.

A year an operator loads is stored (``store.calendars``) and wins over ``chinesecalendar``;
every instance picks it up on its next round (:meth:`CalendarService.refresh`). Each open case
remembers the years its clocks count days in and the version of each year's days it was
counted with (``clock_years``, ``calendar_keys``), so a load finds exactly the cases to count
again, and counting again with the same days finds nothing to do.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from cases import domain
from cases.calendar import LIBRARY, BusinessCalendar
from cases.clock_replay import clock_years, recount
from cases.domain import NotPermitted, StaleCase
from cases.holiday_notice import HolidayNotice, NoticeFile, as_document, changes, check
from cases.holiday_notice import from_document as year_of
from cases.metrics import CALENDAR_NEXT_YEAR_MISSING, CASE_WORK_FAILURES
from cases.store.calendars import CalendarStore
from cases.store.case_clocks import CaseClocks
from common.auth import Principal
from common.events import cases as ev
from common.events import new_event
from common.logging import describe_error, get_logger
from common.outbox import OutboxRelay, outbox_entry, publish_now

log = get_logger(__name__)

Document = dict[str, Any]
TOPIC = "cases.events"
EVENT_SOURCE = "driverhome/cases"
LOAD_SCOPE = "cases:calendar"
NOTICES = Path(__file__).parent / "holiday_notices"
# From this month on, next year's missing notice is reported (the notice comes in autumn).
WARN_FROM_MONTH = 11


def read_notices(folder: Path) -> list[tuple[str, NoticeFile]]:
    """The notice files of a folder (a few small files, read once at start-up)."""
    notices: list[tuple[str, NoticeFile]] = []
    for path in sorted(folder.glob("*.json")):
        notice = NoticeFile.model_validate_json(path.read_text(encoding="utf-8"))
        if path.stem != str(notice.year):
            raise ValueError(f"{path.name} holds the notice of {notice.year}")
        notices.append((path.name, notice))
    return notices


class CalendarService:
    def __init__(
        self,
        store: CalendarStore,
        cases: CaseClocks,
        calendar: BusinessCalendar,
        *,
        clock: Callable[[], datetime],
        service_name: str = "cases",
        relay: Callable[[], OutboxRelay | None] = lambda: None,
    ) -> None:
        self.store = store
        self.cases = cases
        self.calendar = calendar
        self.clock = clock
        # Read when announcing: the runtime starts the relay after the use cases are wired.
        self._relay = relay
        self._service = service_name
        self._warned_on: date | None = None

    # ---- loading a year ------------------------------------------------------------------

    async def load(
        self, principal: Principal, year: int, notice: HolidayNotice
    ) -> tuple[Document, bool]:
        """Store a year's notice; ``(year, False)`` when it is what is loaded already."""
        if principal.role != "operator" or not principal.has_scope(LOAD_SCOPE):
            raise NotPermitted(f"loading a holiday notice needs the {LOAD_SCOPE} scope")
        return await self._load(principal.actor, year, notice)

    async def _load(self, by: str, year: int, notice: HolidayNotice) -> tuple[Document, bool]:
        fresh = check(year, notice)
        doc = as_document(year, notice)
        current = await self.store.get(year)
        if current is not None and all(current.get(k) == v for k, v in doc.items()):
            return current, False
        before = year_of(current) if current is not None else self.calendar.year(year)
        now = self.clock()
        version = current["version"] + 1 if current is not None else 1
        previous = before.digest if before is not None else None
        event = new_event(
            ev.CalendarYearLoaded(
                year=year,
                version=version,
                source=notice.source,
                holidays=doc["holidays"],
                makeup_workdays=doc["makeup_workdays"],
                digest=fresh.digest,
                previous_digest=previous,
                loaded_by=by,
                loaded_at=now,
            ),
            source=EVENT_SOURCE,
            subject=f"calendar-{year}",
            event_id=f"calendar:{year}:v{version}",
            time=now,
        )
        audit = {
            "version": version,
            "by": by,
            "at": now,
            "source": notice.source,
            "digest": fresh.digest,
            "previous_digest": previous,
            **changes(before, fresh),
        }
        doc.update(digest=fresh.digest, loaded_by=by, loaded_at=now)
        entry = outbox_entry(TOPIC, event)
        if current is None:
            stored = await self.store.create(doc, audit, entry)
        else:
            stored = await self.store.replace(
                doc, version=current["version"], audit=audit, event=entry
            )
        if not stored:
            raise StaleCase(f"the calendar of {year} was changed meanwhile; reload it and retry")
        self.calendar.put(fresh)
        log.info("holiday notice loaded", year=year, version=version, by=by)
        await self._flush(self.store.collection, year)
        loaded = await self.store.get(year)
        if loaded is None:  # removed between our write and this read: nothing in the API does
            raise StaleCase(f"the calendar of {year} was changed meanwhile; reload it")
        return loaded, True

    async def seed(self, folder: Path = NOTICES) -> list[int]:
        """Load the notice files of years nobody has loaded yet (an operator's load wins)."""
        seeded: list[int] = []
        for name, notice in read_notices(folder):
            if await self.store.get(notice.year) is not None:
                continue
            try:
                await self._load(f"file:{name}", notice.year, notice)
            except StaleCase:
                continue  # another instance seeded it at the same moment
            seeded.append(notice.year)
        return seeded

    async def refresh(self) -> list[int]:
        """Take up the years loaded through other instances; returns those that changed."""
        changed = [doc["year"] for doc in await self.store.all() if self.calendar.put(year_of(doc))]
        if changed:
            log.info("holiday notices taken up", years=changed)
        return changed

    async def listing(self) -> list[Document]:
        stored = {doc["year"]: doc for doc in await self.store.all()}
        rows: list[Document] = []
        for year in sorted(self.calendar.years | set(stored)):
            loaded = self.calendar.year(year)
            doc = stored.get(year, {})
            rows.append(
                {
                    "year": year,
                    "origin": "notice" if doc else LIBRARY,
                    "source": doc.get("source", f"the {LIBRARY} package"),
                    "version": doc.get("version"),
                    "digest": loaded.digest if loaded else doc.get("digest"),
                    "holidays": len(loaded.holidays) if loaded else None,
                    "makeup_workdays": len(loaded.makeup_workdays) if loaded else None,
                    "loaded_by": doc.get("loaded_by"),
                    "loaded_at": doc.get("loaded_at"),
                }
            )
        return rows

    # ---- counting deadlines again --------------------------------------------------------

    async def recount_pending(self, limit: int = 500) -> int:
        """Count again the open cases counted with other days than those loaded now.

        Each case on its own: one that cannot be counted is logged and skipped.
        """
        now = self.clock()
        this_year = self.calendar.local(now).year
        announced = 0
        for year in sorted(self.calendar.years):
            loaded = self.calendar.year(year)
            if year < this_year - 1 or loaded is None:
                continue  # a year that ended long ago counts no running clock
            for case in await self.cases.counted_before(year, loaded.key, limit):
                try:
                    announced += await self._recount(case, now)
                except Exception as exc:
                    CASE_WORK_FAILURES.labels(self._service, "recount").inc()
                    log.warning(
                        "deadline recount skipped a case",
                        case_id=case.get("_id"),
                        error=describe_error(exc),
                    )
        return announced

    async def _recount(self, case: Document, now: datetime) -> int:
        fields, moved, after = recount(self.calendar, case)
        years = clock_years(self.calendar, after["clocks"])
        keys = self.calendar.keys(years)
        new_keys = [k for k in keys if k not in case.get("calendar_keys", [])]
        fields.update(clock_years=years, calendar_keys=keys)
        if not moved:
            await self.cases.recounted(
                case["_id"], version=case["version"], set_fields=fields, outbox=None
            )
            return 0
        fields["next_check"] = domain.next_check(self.calendar, after, now)
        version = case["version"] + 1
        event = new_event(
            ev.CaseDeadlinesRecomputed(
                case_id=case["_id"],
                driver_id=case["driver_id"],
                round=case.get("round", 1),
                calendar_years=sorted({int(k.split(".")[0]) for k in new_keys}),
                changes=moved,
                version=version,
                recomputed_at=now,
            ),
            source=EVENT_SOURCE,
            subject=case["driver_id"],
            event_id=f"{case['_id']}:v{version}",
            time=now,
        )
        if not await self.cases.recounted(
            case["_id"],
            version=case["version"],
            set_fields=fields,
            outbox=outbox_entry(TOPIC, event),
        ):
            return 0  # changed meanwhile (or counted by another instance): the next round sees
        await self._flush(self.cases.collection, case["_id"])
        return 1

    # ---- the yearly routine --------------------------------------------------------------

    def next_year_missing(self, now: datetime) -> bool:
        """From 1 November, whether next year's holidays are missing (metric and a daily log)."""
        local = self.calendar.local(now)
        missing = [y for y in (local.year, local.year + 1) if not self.calendar.loaded(y)]
        if local.month < WARN_FROM_MONTH:
            missing = [y for y in missing if y == local.year]
        CALENDAR_NEXT_YEAR_MISSING.labels(self._service).set(1 if missing else 0)
        if missing and self._warned_on != local.date():
            self._warned_on = local.date()
            log.warning(
                "public holidays not loaded: deadlines into these years are provisional",
                years=missing,
                routine="load the State Council notice with PUT /v1/calendars/{year}",
            )
        return bool(missing)

    async def _flush(self, collection: Any, doc_id: Any) -> None:
        await publish_now(self._relay, collection, doc_id)
