"""Xuecheng's "1+X+Y" station network (seeds/002:35): one hub at the core (the district's
交通物流行业党群服务中心), X drivers' homes supporting it (奚仲故里"司机之家", 3 in Xuecheng) and Y
driver posts assisting (红色"司机驿站", 20). A station's ``network`` names its level and, for a
home or a post, the hub it belongs to; the hub's station_id identifies the network.

Placement is checked here (a hub has no parent; a home or a post names an existing hub; a hub
with members cannot stop being a hub), one station document at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.clock import Clock, utc_now
from stations.directory import Directory
from stations.domain import (
    NetworkHasMembers,
    NetworkLevel,
    NetworkPlace,
    NetworkPlacementInvalid,
    Station,
    StationNotFound,
)
from stations.store.stations import StationStore

LEVELS: tuple[NetworkLevel, ...] = ("hub", "home", "post")


@dataclass(frozen=True)
class Network:
    """A hub and its members, with the article's figures: stations per level, open ones."""

    hub: Station
    members: list[Station]

    def at(self, level: NetworkLevel) -> list[Station]:
        return (
            [self.hub]
            if level == "hub"
            else [s for s in self.members if s.network is not None and s.network.level == level]
        )

    def figures(self) -> dict[NetworkLevel, int]:
        return {level: len(self.at(level)) for level in LEVELS}

    def open_figures(self) -> dict[NetworkLevel, int]:
        return {level: sum(s.status == "open" for s in self.at(level)) for level in LEVELS}

    def formula(self) -> str:
        """As the article writes it: "1+3+20"."""
        return "+".join(str(n) for n in self.figures().values())


class StationNetwork:
    def __init__(
        self, stations: StationStore, directory: Directory, *, clock: Clock = utc_now
    ) -> None:
        self._stations = stations
        self._directory = directory
        self.now = clock

    async def check(self, place: NetworkPlace | None, station_id: str | None = None) -> None:
        """Refuse a placement the network cannot hold (422)."""
        if place is None:
            return
        if place.level == "hub":
            if place.parent_id is not None:
                raise NetworkPlacementInvalid("a hub belongs to no other station")
            return
        if place.parent_id is None:
            raise NetworkPlacementInvalid(f"a {place.level} names the hub it belongs to")
        parent = await self._stations.get(place.parent_id)
        if (
            place.parent_id == station_id
            or parent is None
            or parent.network is None
            or parent.network.level != "hub"
        ):
            raise NetworkPlacementInvalid(f"{place.parent_id} is not a network's hub")

    async def place(self, station_id: str, place: NetworkPlace | None) -> Station:
        """Put a station in a network (or take it out with None)."""
        station = await self._directory.get_station(station_id)
        await self.check(place, station_id)
        was_hub = station.network is not None and station.network.level == "hub"
        stops_being_hub = was_hub and (place is None or place.level != "hub")
        if stops_being_hub and await self._stations.network_members(station_id):
            raise NetworkHasMembers(f"{station_id} is a hub with homes or posts; move them")
        document = place.model_dump(mode="json") if place is not None else None
        await self._stations.set_network(station_id, document, self.now())
        return await self._directory.get_station(station_id)

    async def network(self, hub_id: str) -> Network:
        hub = await self._stations.get(hub_id)
        if hub is None or hub.network is None or hub.network.level != "hub":
            raise StationNotFound(f"no network with the hub {hub_id}")
        return Network(hub=hub, members=await self._stations.network_members(hub_id))

    async def networks(self) -> list[Network]:
        return [
            Network(hub=hub, members=await self._stations.network_members(hub.station_id))
            for hub in await self._stations.network_hubs()
        ]
