"""A service's contract derived from the service itself, not kept by hand beside it.

What a service consumes is what its app's wiring subscribes: the wiring runs over a store
client and a broker that are built but never connected, and each consumer says which event
types it hands to a handler on which topic. What it publishes is the catalogue of its own
topics (``common.events``: one module per producing service). The AsyncAPI documents,
docs/events.md, the access table's check and the Kubernetes scalers all read this.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property

from fastapi import FastAPI

from common.asyncapi import ServiceContract
from common.bus import Publisher, create_broker
from common.events import DOMAIN_EVENTS, PARTNER_EVENTS
from common.faults import Faults
from common.mongo import create_client, database
from common.partner_directory import PartnerDirectory
from common.partners import PARTNER_TOPIC
from common.runtime import Runtime
from common.settings import ServiceSettings

Wire = Callable[[Runtime], None]


def wired_consumption(app: FastAPI) -> dict[str, tuple[str, ...]]:
    """Per topic, the event types the app's consumers handle (``app.state.wire`` run dry)."""
    settings: ServiceSettings = app.state.settings
    wire: Wire = app.state.wire
    broker = create_broker(settings)
    runtime = Runtime(
        settings=settings,
        db=database(create_client(settings), settings),
        broker=broker,
        publisher=Publisher(broker, settings),
        faults=Faults(settings.faults),
        directory=PartnerDirectory(settings.partners),
    )
    wire(runtime)
    handled: dict[str, tuple[str, ...]] = {}
    for consumer in runtime.consumers:
        for topic, types in consumer.handled.items():
            if types:
                handled[topic] = tuple(dict.fromkeys((*handled.get(topic, ()), *types)))
    return handled


def service_contract(
    *,
    name: str,
    title: str,
    description: str,
    app: FastAPI,
    own_topics: Sequence[str],
    group_id: str,
    partner_gateway: bool = False,
) -> ServiceContract:
    publishes = {topic: tuple(DOMAIN_EVENTS[topic]) for topic in own_topics}
    if partner_gateway:  # the HTTP ingest writes partners' topics on their behalf
        publishes[PARTNER_TOPIC] = tuple(PARTNER_EVENTS)
    return ServiceContract(
        name=name,
        title=title,
        description=description,
        publishes=publishes,
        consumes=wired_consumption(app),
        group_id=group_id,
        partner_gateway=partner_gateway,
    )


class ContractOf:
    """A service's contract, built when first asked for (it needs settings and the app), from
    the words only the service can say: ``contract = ContractOf("points", DESCRIPTION, app)``."""

    def __init__(
        self,
        name: str,
        description: str,
        app: Callable[[], FastAPI],
        *,
        own_topics: Sequence[str] | None = None,
        partner_gateway: bool = False,
    ) -> None:
        self._name = name
        self._description = description
        self._app = app
        self._own_topics = own_topics or (f"{name}.events",)
        self._partner_gateway = partner_gateway

    def __call__(self) -> ServiceContract:
        return self._built

    @cached_property
    def _built(self) -> ServiceContract:
        return service_contract(
            name=self._name,
            title=f"driverhome {self._name}",
            description=self._description,
            app=self._app(),
            own_topics=self._own_topics,
            group_id=self._name,
            partner_gateway=self._partner_gateway,
        )
