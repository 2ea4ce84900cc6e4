"""Honours announced to the fleet or the district (issue 17; docs/honours.md).

The cases service announces a round's winners as ``honour.round_announced.v1``; notify makes
the public announcement a broadcast of category ``activity`` (so drivers who did not give the
notifications consent are not reached), worded by the type's templates (zh-CN and en,
operators may override them) and naming the winners by the display name the secretary gave,
never by a phone or ID number. Per category (``honour_announcements``) the segment is the
whole district, or each winner's fleet (one broadcast per fleet naming its own winners; a
winner whose fleet notify does not know is named in none), or nothing.

Once per round and segment: the broadcast's id derives from both, so a redelivered event finds
the broadcast made and makes no second one.
"""

from __future__ import annotations

import hashlib

from common.events.honours import HonourRoundAnnounced, HonourWinner
from notify.broadcasts import Broadcasts
from notify.domain import LANGUAGES, Content, Language, Segment
from notify.settings import NotifySettings
from notify.store.drivers import DriverStore
from notify.template_admin import Templates
from notify.templates import render, variables_of

EVENT_TYPE = "honour.round_announced.v1"
HONOUR_NAMES: dict[str, dict[Language, str]] = {
    "monthly_star": {"zh-CN": "每月之星", "en": "Star of the Month"},
    "model_driver": {"zh-CN": "示范标兵", "en": "Model Driver"},
    "safety_model": {"zh-CN": "安全标兵", "en": "Safety Model"},
    "good_samaritan": {"zh-CN": "首善探头", "en": "Good Samaritan"},
}
UNNAMED: dict[Language, str] = {"zh-CN": "一位师傅", "en": "a driver"}
SEPARATOR: dict[Language, str] = {"zh-CN": "、", "en": ", "}


def announcement_id(round_id: str, segment: Segment) -> str:
    key = f"{round_id}\x1f{segment.kind}\x1f{segment.value or ''}"
    return f"brc_hon_{hashlib.sha256(key.encode()).hexdigest()[:32]}"


class HonourAnnouncements:
    def __init__(
        self,
        broadcasts: Broadcasts,
        drivers: DriverStore,
        templates: Templates,
        settings: NotifySettings,
    ) -> None:
        self._broadcasts = broadcasts
        self._drivers = drivers
        self._templates = templates
        self._settings = settings

    async def on_round_announced(self, data: HonourRoundAnnounced) -> list[str]:
        """The round's announcement broadcasts (made once); their ids."""
        made = []
        for segment, winners in await self._audiences(data):
            content = {lang: await self._content(data, winners, lang) for lang in LANGUAGES}
            broadcast = await self._broadcasts.create_broadcast(
                category="activity",
                urgency="normal",
                segment=segment,
                content=content,
                scheduled_at=None,
                expires_at=None,
                by="honours",
                broadcast_id=announcement_id(data.round_id, segment),
            )
            made.append(broadcast.broadcast_id)
        return made

    async def _audiences(
        self, data: HonourRoundAnnounced
    ) -> list[tuple[Segment, list[HonourWinner]]]:
        scope = self._settings.honour_announcements.get(data.category, "district")
        if scope == "none":
            return []
        if scope == "district":
            return [(Segment(kind="everyone"), data.winners)]
        facts = await self._drivers.facts_for([w.driver_id for w in data.winners])
        fleets: dict[str, list[HonourWinner]] = {}
        for winner in data.winners:
            fleet = facts[winner.driver_id].fleet if winner.driver_id in facts else None
            if fleet:
                fleets.setdefault(fleet, []).append(winner)
        return [(Segment(kind="fleet", value=f), ws) for f, ws in sorted(fleets.items())]

    async def _content(
        self, data: HonourRoundAnnounced, winners: list[HonourWinner], language: Language
    ) -> Content:
        wording, _ = await self._templates.wording(EVENT_TYPE, language)
        names = SEPARATOR[language].join(w.display_name or UNNAMED[language] for w in winners)
        variables = variables_of(data, self._settings.district_timezone) | {
            "honour": HONOUR_NAMES[data.category][language],
            "names": names,
        }
        title, body = render(wording, variables)
        return Content(title=title[:100], body=body[:2000])
