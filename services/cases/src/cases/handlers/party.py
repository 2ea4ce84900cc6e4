"""Handlers for party-member life (docs/party-life.md): who holds a role in which organisation
(``registry.events``), and the party platform's joins, leaves and learning time and the
volunteer team's hours (partner topics)."""

from __future__ import annotations

from cases.party import PartyLife
from cases.party_points import MemberPoints
from cases.settings import CasesSettings
from cases.store.party import PartyStore
from cases.store.units import DistrictUnits
from common.bus import EventConsumer
from common.clock import Clock
from common.consents import following_consents
from common.dispatch import EventHandler, on, typed
from common.erasure import DriverErasure, skipping_erased
from common.events.partner import PartyLearningRecorded, PartyMeetingAttendance, VolunteerLogged
from common.events.registry import PersonAppointed, PersonDismissed
from common.outbox import OutboxRelay
from common.runtime import Runtime


class PartyHandlers:
    def __init__(self, party: PartyLife) -> None:
        self._party = party

    async def on_person_appointed(self, data: PersonAppointed) -> None:
        await self._party.note_role(
            data.organisation_id, data.person_id, data.role, held=True, at=data.appointed_at
        )

    async def on_person_dismissed(self, data: PersonDismissed) -> None:
        await self._party.note_role(
            data.organisation_id, data.person_id, data.role, held=False, at=data.dismissed_at
        )

    def registry_handlers(self) -> dict[str, EventHandler]:
        return {
            PersonAppointed.event_type: on(PersonAppointed, self.on_person_appointed),
            PersonDismissed.event_type: on(PersonDismissed, self.on_person_dismissed),
        }

    def partner_handlers(self) -> dict[str, EventHandler]:
        return {
            PartyMeetingAttendance.event_type: typed(
                PartyMeetingAttendance, self._party.record_mark
            ),
            PartyLearningRecorded.event_type: typed(
                PartyLearningRecorded, self._party.record_learning
            ),
            VolunteerLogged.event_type: typed(VolunteerLogged, self._party.record_volunteering),
        }


def wire_party(
    runtime: Runtime,
    consumer: EventConsumer,
    erasure: DriverErasure,
    registry_handlers: dict[str, EventHandler],
    *,
    settings: CasesSettings,
    clock: Clock,
) -> tuple[PartyLife, dict[str, EventHandler]]:
    """Party life and what it consumes: the partner facts (an erased driver's late ones are not
    recorded again) here, and the service's ``registry.events`` handlers extended with
    appointments and the ``party_life`` consent (returned: the caller subscribes them)."""
    store = PartyStore(runtime.db)

    def relay() -> OutboxRelay | None:
        return runtime.relay

    party = PartyLife(
        store,
        DistrictUnits(runtime.db),
        MemberPoints(store, clock=clock, relay=relay),
        settings,
        clock=clock,
        relay=relay,
    )
    handlers = PartyHandlers(party)
    batch = settings.consumer_batch_size
    consumer.partners(skipping_erased(handlers.partner_handlers(), erasure), batch_size=batch)
    extended = {**registry_handlers, **handlers.registry_handlers()}
    return party, following_consents(extended, party.follow_consent)
