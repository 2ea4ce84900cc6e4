"""The census's own questions (issue 16): routes, political status (only with consent),
interests and needs; a need turned into a case with one call; a campaign's results summarised
per grid and per organisation and fed back (an event and a report)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from common.events import new_event
from common.events.registry import (
    CensusNeedReferred,
    CensusResultsFedBack,
    DriverUpdated,
    UnitCensusResult,
)
from common.logging import scrub
from common.outbox import OUTBOX_HIDDEN, outbox_entry, push_outbox
from registry.district import District
from registry.domain import Conflict, Driver, InvalidDriverData, NotFound, Route, new_id
from registry.records import EVENT_SOURCE, TOPIC, Actor, DriverRecords
from registry.store.campaigns import CampaignStore
from registry.store.drivers import from_doc
from registry.survey import NEED_CATEGORIES, CensusAnswers, CensusNeed, PoliticalStatus

Document = dict[str, Any]
PAGE = 500


@dataclass(frozen=True)
class SurveyInput:
    routes: list[Route] | None = None
    political_status: PoliticalStatus | None = None
    political_status_consent: bool = False
    interests: list[str] = field(default_factory=list)
    needs: list[tuple[str, str]] = field(default_factory=list)  # (category, summary)


MAX_INTERESTS = 50  # per grid or organisation in a campaign's feedback


@dataclass
class _Tally:
    answered: int = 0
    needs: Counter[str] = field(default_factory=Counter)
    referred: int = 0
    interests: Counter[str] = field(default_factory=Counter)
    party: int = 0
    route_grids: Counter[str] = field(default_factory=Counter)

    def add(self, driver: Driver, answers: CensusAnswers) -> None:
        self.answered += 1
        self.needs.update(n.category for n in answers.needs)
        self.referred += sum(1 for n in answers.needs if n.referred_at)
        self.interests.update(answers.interests)
        self.party += answers.political_status in ("party_member", "probationary_party_member")
        self.route_grids.update(driver.route_grid_ids)

    def result(self, unit_id: str | None) -> UnitCensusResult:
        return UnitCensusResult(
            unit_id=unit_id,
            drivers_answered=self.answered,
            needs=dict(self.needs),
            needs_referred=self.referred,
            # The most named only: every driver's own codes would grow the feedback event
            # past what the broker takes.
            interests=dict(self.interests.most_common(MAX_INTERESTS)),
            party_members=self.party,
            route_grids=dict(self.route_grids),
        )


@dataclass(frozen=True)
class CensusReport:
    campaign_id: str
    quarter: str
    grids: list[UnitCensusResult]
    organisations: list[UnitCensusResult]


class CensusSurvey:
    def __init__(
        self, records: DriverRecords, campaigns: CampaignStore, district: District
    ) -> None:
        self._records = records
        self._campaigns = campaigns
        self._district = district

    async def record(
        self, driver_id: str, campaign_id: str | None, given: SurveyInput, actor: Actor
    ) -> CensusAnswers:
        """Keep the driver's answers (replacing the last census's); declare their routes."""
        if given.political_status is not None and not given.political_status_consent:
            raise InvalidDriverData(
                "political_status", "asked only with the driver's consent to this question"
            )
        unknown = sorted({c for c, _ in given.needs} - NEED_CATEGORIES)
        if unknown:
            raise InvalidDriverData("needs", f"unknown categories: {', '.join(unknown)}")
        driver = await self._records.get_driver(driver_id)
        driver.require_not_erased()
        now = self._records.now()
        answers = CensusAnswers(
            campaign_id=campaign_id,
            answered_at=now,
            answered_by=actor.sub,
            political_status=given.political_status,
            interests=sorted(set(given.interests)),
            needs=[
                CensusNeed(need_id=new_id("need"), category=c, summary=s) for c, s in given.needs
            ],
        )
        await self._store(driver_id, answers, now)
        if given.routes is not None:
            await self._district.declare_routes(driver_id, given.routes)
        return answers

    async def refer_need(self, driver_id: str, need_id: str, actor: Actor) -> CensusNeed:
        """One call: the need becomes a case (census.need_referred.v1, which cases opens)."""
        driver = await self._records.get_driver(driver_id)
        driver.require_not_erased()
        answers = driver.census_answers
        need = answers.need(need_id) if answers else None
        if answers is None or need is None:
            raise NotFound("need")
        if need.referred_at is not None:
            return need  # referred already: one case per need
        now = self._records.now()
        referred = need.model_copy(update={"referred_at": now, "referred_by": actor.sub})
        needs = [referred if n.need_id == need_id else n for n in answers.needs]
        event = CensusNeedReferred(
            driver_id=driver_id,
            need_id=need_id,
            campaign_id=answers.campaign_id,
            category=need.category,
            summary=scrub(need.summary),
            referred_by=actor.sub,
            referred_at=now,
        )
        written = await self._records.drivers.update(
            driver_id,
            # The needs list is written whole from this read: pinned to the driver's version,
            # so a referral of another need in between is not lost (this one answers 409).
            when={"updated_at": driver.updated_at},
            set_={"census_answers.needs": [n.model_dump() for n in needs], "updated_at": now},
            outbox=[self._records.outbox(event, driver_id)],
        )
        if not written:
            raise Conflict("the census answers changed meanwhile; try again")
        await self._records.announce(driver_id)
        stored = (await self._records.get_driver(driver_id)).census_answers
        return (stored.need(need_id) if stored else None) or referred  # as stored (ms)

    async def _store(self, driver_id: str, answers: CensusAnswers, now: Any) -> None:
        event = DriverUpdated(
            driver_id=driver_id, changed_fields=["census_answers"], updated_at=now
        )
        written = await self._records.drivers.update(
            driver_id,
            when={"erased": False},
            set_={"census_answers": answers.model_dump(exclude_none=True), "updated_at": now},
            outbox=[self._records.outbox(event, driver_id)],
        )
        if not written:
            raise Conflict("the driver changed meanwhile; try again")
        await self._records.announce(driver_id)

    async def report(self, campaign_id: str) -> CensusReport:
        campaign = await self._campaigns.get(campaign_id)
        if campaign is None:
            raise NotFound("campaign")
        grids: dict[str | None, _Tally] = defaultdict(_Tally)
        organisations: dict[str, _Tally] = defaultdict(_Tally)
        collection = self._records.drivers.collection
        after = ""
        while True:
            query = {"census_answers.campaign_id": campaign_id, "_id": {"$gt": after}}
            docs = await collection.find(query, OUTBOX_HIDDEN).sort("_id", 1).to_list(PAGE)
            for doc in docs:
                driver = from_doc(doc)
                answers = driver.census_answers
                if answers is None:
                    continue
                grids[driver.grid_id].add(driver, answers)
                for membership in driver.memberships:
                    organisations[membership.organisation_id].add(driver, answers)
            if len(docs) < PAGE:
                break
            after = docs[-1]["_id"]
        return CensusReport(
            campaign_id=campaign_id,
            quarter=campaign.quarter,
            grids=[t.result(g) for g, t in sorted(grids.items(), key=lambda kv: kv[0] or "")],
            organisations=[t.result(o) for o, t in sorted(organisations.items())],
        )

    async def feed_back(self, campaign_id: str, actor: Actor) -> CensusReport:
        """Publish the campaign's summary to the towns, communities and organisations."""
        report = await self.report(campaign_id)
        now = self._records.now()
        event = CensusResultsFedBack(
            campaign_id=campaign_id,
            quarter=report.quarter,
            fed_back_at=now,
            fed_back_by=actor.sub,
            grids=report.grids,
            organisations=report.organisations,
        )
        entry = outbox_entry(TOPIC, new_event(event, source=EVENT_SOURCE, subject=campaign_id))
        await self._campaigns.collection.update_one(
            {"_id": campaign_id},
            push_outbox({"$set": {"fed_back_at": now, "fed_back_by": actor.sub}}, entry),
        )
        await self._records.announce_in(self._campaigns.collection, campaign_id)
        return report
