"""The registry's use cases, one object per concern, composed over one :class:`DriverRecords`.

registration.py (register, also from the partner topic), lookup.py (read and search),
lifecycle.py (update, deactivate, reactivate, erase), vehicles.py (plates and port passes),
units.py (fleets, grids, organisations and members), consent.py (consent and family),
pii_access.py (audited reveal), census.py (campaigns and verifications), review_queue.py
(registration data that disagreed), partner_linking.py (links a driver confirms). records.py
holds what they share: the outbox, the personal-value protection and the access log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from common.clock import Clock, utc_now
from common.faults import Faults
from common.outbox import RelayRef, no_relay
from common.pii import PiiProtector
from registry.census import Census
from registry.census_survey import CensusSurvey
from registry.consent import ConsentAndFamily
from registry.consent_requests import ConsentRequests
from registry.district import District
from registry.lifecycle import Lifecycle
from registry.lookup import Lookup
from registry.partner_linking import PartnerLinking
from registry.people_erasure import PeopleErasure
from registry.pii_access import PiiAccess
from registry.records import DriverRecords
from registry.registration import Registrar
from registry.review_queue import ReviewQueue
from registry.station_access import StationAccess
from registry.store.access_log import AccessLog
from registry.store.campaigns import CampaignStore
from registry.store.consent_requests import ConsentRequestStore
from registry.store.drivers import DriverStore
from registry.store.fleets import FleetStore
from registry.store.grids import GridStore
from registry.store.organisations import OrganisationStore
from registry.store.people import PeopleStore
from registry.store.reviews import ReviewStore
from registry.store.route_grids import RouteGridStore
from registry.store.station_visits import StationVisitStore
from registry.store.tree_moves import MoveJournal
from registry.store.vehicles import VehicleStore
from registry.tree_moves import TreeMover
from registry.units import Units
from registry.vehicles import Vehicles


@dataclass(frozen=True)
class Stores:
    drivers: DriverStore
    vehicles: VehicleStore
    fleets: FleetStore
    grids: GridStore
    organisations: OrganisationStore
    campaigns: CampaignStore
    reviews: ReviewStore
    access_log: AccessLog
    idempotency_keys: AsyncCollection[dict[str, Any]] | None = None


@dataclass(frozen=True)
class Registry:
    registrar: Registrar
    lookup: Lookup
    lifecycle: Lifecycle
    vehicles: Vehicles
    units: Units
    consent: ConsentAndFamily
    consent_requests: ConsentRequests
    station_access: StationAccess
    pii_access: PiiAccess
    census: Census
    reviews: ReviewQueue
    partner_links: PartnerLinking
    district: District
    survey: CensusSurvey
    people_erasure: PeopleErasure

    @classmethod
    def build(
        cls,
        stores: Stores,
        pii: PiiProtector,
        relay: RelayRef = no_relay,
        *,
        clock: Clock = utc_now,
        faults: Faults | None = None,
    ) -> Registry:
        """Each part after the parts it uses."""
        records = DriverRecords(stores.drivers, stores.access_log, pii, relay, clock=clock)
        units = Units(records, stores.fleets, stores.grids, stores.organisations)
        # Kept beside the drivers: a station's consent waits there for the driver's word.
        requests = ConsentRequestStore(stores.drivers.collection.database)
        visits = StationVisitStore(stores.drivers.collection.database)
        consent = ConsentAndFamily(records)
        vehicles = Vehicles(records, stores.vehicles)
        lifecycle = Lifecycle(
            records,
            fleets=stores.fleets,
            grids=stores.grids,
            vehicles=stores.vehicles,
            reviews=stores.reviews,
            idempotency_keys=stores.idempotency_keys,
            forget_with=(requests, visits),
        )
        reviews = ReviewQueue(records, stores.reviews, lifecycle=lifecycle, vehicles=vehicles)
        # Kept beside the drivers like the consent requests: built from the same database.
        people = PeopleStore(stores.drivers.collection.database)
        district = District(
            records,
            units,
            people,
            RouteGridStore(stores.drivers.collection.database),
            TreeMover(MoveJournal(stores.drivers.collection.database), records, faults),
        )
        return cls(
            registrar=Registrar(
                records,
                vehicles=vehicles,
                units=units,
                vehicle_store=stores.vehicles,
                queue=reviews,
            ),
            lookup=Lookup(records, stores.vehicles),
            lifecycle=lifecycle,
            vehicles=vehicles,
            units=units,
            consent=consent,
            consent_requests=ConsentRequests(records, requests, consent),
            station_access=StationAccess(visits, units, stores.drivers),
            pii_access=PiiAccess(records),
            census=Census(records, stores.campaigns, lifecycle=lifecycle, units=units),
            reviews=reviews,
            partner_links=PartnerLinking(records),
            district=district,
            survey=CensusSurvey(records, stores.campaigns, district),
            people_erasure=PeopleErasure(
                records, people, stores.organisations, stores.idempotency_keys
            ),
        )
