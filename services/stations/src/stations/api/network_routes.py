"""Xuecheng's "1+X+Y" network (seeds/002:35): placing a station in a network, and the network
as a tree with its figures per level."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from stations.api.dependencies import Everyone, Service, StationAdmin
from stations.api.schemas import NetworkPlaceRequest, StationView
from stations.domain import Location, NetworkLevel, Station, StationKind, StationStatus
from stations.network import Network

router = APIRouter(prefix="/v1", tags=["stations"])


class NetworkStation(BaseModel):
    station_id: str
    name: str
    kind: StationKind
    status: StationStatus
    address: str
    location: Location

    @classmethod
    def of(cls, station: Station) -> NetworkStation:
        return cls(**station.model_dump(include=set(cls.model_fields)))


class NetworkView(BaseModel):
    hub: NetworkStation = Field(description="The 1: the network's core")
    homes: list[NetworkStation] = Field(description="The X: drivers' homes supporting the hub")
    posts: list[NetworkStation] = Field(description="The Y: driver posts assisting it")
    figures: dict[NetworkLevel, int] = Field(description="Stations per level")
    open: dict[NetworkLevel, int] = Field(description="Of them, open now (status open)")
    formula: str = Field(description='As the article writes it, e.g. "1+3+20"')

    @classmethod
    def of(cls, network: Network) -> NetworkView:
        return cls(
            hub=NetworkStation.of(network.hub),
            homes=[NetworkStation.of(s) for s in network.at("home")],
            posts=[NetworkStation.of(s) for s in network.at("post")],
            figures=network.figures(),
            open=network.open_figures(),
            formula=network.formula(),
        )


class NetworkList(BaseModel):
    items: list[NetworkView]


@router.put(
    "/stations/{station_id}/network",
    response_model=StationView,
    summary="Place a station in a 1+X+Y network: the hub, or a home or post of a hub",
    responses={
        422: {"description": "A hub with a parent, a home/post without a hub, or not a hub"},
        409: {"description": "The station is a hub that still has homes or posts"},
    },
)
async def place_in_network(
    station_id: str, body: NetworkPlaceRequest, _: StationAdmin, service: Service
) -> StationView:
    station = await service.network.place(station_id, body)
    return StationView.of(station, service.now())


@router.delete(
    "/stations/{station_id}/network",
    response_model=StationView,
    summary="Take a station out of its network (a hub only once it has no members)",
)
async def leave_network(station_id: str, _: StationAdmin, service: Service) -> StationView:
    return StationView.of(await service.network.place(station_id, None), service.now())


@router.get(
    "/networks",
    response_model=NetworkList,
    summary="Every 1+X+Y network: each hub with its homes, posts and figures",
)
async def networks(_: Everyone, service: Service) -> NetworkList:
    return NetworkList(items=[NetworkView.of(n) for n in await service.network.networks()])


@router.get(
    "/networks/{hub_id}",
    response_model=NetworkView,
    summary="One network as a tree: the hub, its homes and posts, stations per level",
)
async def network(hub_id: str, _: Everyone, service: Service) -> NetworkView:
    return NetworkView.of(await service.network.network(hub_id))
