"""The stations use cases, one object per concern.

directory.py (add, read, change and list stations), nearby.py (the nearest stations),
checkins.py (uses of services, occupancy, checking out), activities.py (scheduling,
registration, attendance), feedback.py (ratings of visits), lifecycle_catalogue.py (the life-cycle
catalogue's versions and coverage), drivers.py (what the registry
announced about drivers). records.py holds what they share: the topic and the relay.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.clock import Clock, utc_now
from common.outbox import RelayRef, no_relay
from stations.activities import Activities
from stations.checkins import Checkins
from stations.circle import ServiceCircle
from stations.directory import Directory
from stations.drivers import Drivers
from stations.driving import DrivingStates
from stations.feedback import Ratings
from stations.lifecycle_catalogue import LifecycleCatalogue
from stations.nearby import NearbySearch
from stations.network import StationNetwork
from stations.records import Announcer
from stations.rest import RestNudges
from stations.settings import StationsSettings
from stations.store.activities import ActivityStore
from stations.store.checkins import CheckinStore
from stations.store.drivers import DriverStore
from stations.store.feedback import FeedbackStore
from stations.store.lifecycle import LifecycleStore
from stations.store.stations import StationStore


@dataclass(frozen=True)
class Stores:
    stations: StationStore
    checkins: CheckinStore
    drivers: DriverStore
    activities: ActivityStore
    feedback: FeedbackStore
    lifecycle: LifecycleStore


@dataclass(frozen=True)
class Stations:
    directory: Directory
    nearby: NearbySearch
    drivers: Drivers
    checkins: Checkins
    activities: Activities
    ratings: Ratings
    lifecycle: LifecycleCatalogue
    circle: ServiceCircle
    rest: RestNudges
    driving: DrivingStates
    network: StationNetwork
    circle_minutes: int
    now: Clock

    @classmethod
    def build(
        cls,
        stores: Stores,
        settings: StationsSettings,
        relay: RelayRef = no_relay,
        *,
        clock: Clock = utc_now,
    ) -> Stations:
        """Each part after the parts it uses."""
        announcer = Announcer(relay)
        directory = Directory(stores.stations, clock=clock)
        drivers = Drivers(stores.drivers)
        checkins = Checkins(
            stores.checkins,
            stores.stations,
            directory=directory,
            drivers=drivers,
            announcer=announcer,
            settings=settings,
            clock=clock,
        )
        nearby = NearbySearch(stores.stations, settings, clock=clock)
        rest = RestNudges(
            stores.stations.collection.database, nearby, announcer, settings, clock=clock
        )
        checkins.after_count = rest.on_checkin
        return cls(
            directory=directory,
            nearby=nearby,
            drivers=drivers,
            checkins=checkins,
            activities=Activities(
                stores.activities,
                directory=directory,
                drivers=drivers,
                announcer=announcer,
                clock=clock,
                per_station_month=settings.max_activities_per_station_month,
            ),
            ratings=Ratings(stores.feedback, directory=directory, checkins=checkins, clock=clock),
            lifecycle=LifecycleCatalogue(
                stores.lifecycle, stores.checkins, announcer=announcer, clock=clock
            ),
            circle=ServiceCircle(stores.stations, stores.drivers, nearby, settings),
            rest=rest,
            driving=DrivingStates(
                stores.stations.collection.database, announcer, settings, clock=clock
            ),
            network=StationNetwork(stores.stations, directory, clock=clock),
            circle_minutes=settings.service_circle_minutes,
            now=clock,
        )
