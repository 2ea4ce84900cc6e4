"""AsyncAPI 3.0 documents for the services, built from the event catalogue.

FastStream's own ``faststream docs gen`` cannot show our payloads: every subscriber reads the raw
record bytes and validates them against the catalogue itself (so that poison goes to the DLQ
instead of failing inside the framework), which leaves FastStream nothing typed to describe. So
each service declares what it publishes and consumes in a :class:`ServiceContract`, and
:func:`build_asyncapi` turns that declaration and the pydantic models of the catalogue into an
AsyncAPI document: one channel per topic (and its ``.dlq`` twin), one message per event type
whose payload is the CloudEvents envelope with ``data`` replaced by that type's schema.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from common.dlq import DLQ_SUFFIX
from common.events import DOMAIN_EVENTS, PARTNER_EVENTS, CloudEvent, EventData
from common.partners import DEFAULT_PARTNERS, PARTNER_TOPIC

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
CONTENT_TYPE = "application/cloudevents+json"

JsonObject = dict[str, Any]

_SCHEMA_REF = "#/components/schemas/{model}"
_DLQ_MESSAGE = "dead-letter"
_DLQ_HEADERS: dict[str, str] = {
    "dlq-reason": "Why the record could not be processed, one word (e.g. invalid_data).",
    "dlq-error": "Details of the failure; personal numbers are scrubbed from it.",
    "dlq-consumer-group": "The consumer group that gave up on the record.",
    "dlq-original-topic": "The topic the record was read from.",
    "dlq-original-partition": "Its partition there (decimal).",
    "dlq-original-offset": "Its offset there (decimal).",
    "dlq-time": "When it was dead-lettered (ISO 8601, UTC).",
}


@dataclass(frozen=True)
class ServiceContract:
    """What one service puts on Kafka and takes from it: the source of its AsyncAPI document.

    Keys of ``publishes`` are domain topics; keys of ``consumes`` are domain topics or
    :data:`PARTNER_TOPIC` (every partner topic, subscribed by pattern). Values are the event
    types the service sends or handles there.
    """

    name: str
    title: str
    description: str
    publishes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    consumes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    group_id: str | None = None
    version: str = "1.0.0"
    # Only the partners service's HTTP ingest writes partner topics, on the partners' behalf.
    partner_gateway: bool = False


def build_asyncapi(contract: ServiceContract) -> JsonObject:
    """The AsyncAPI 3.0.0 document (a JSON-ready dict) of one service."""
    _check(contract)
    builder = _Builder(contract)
    for topic, types in contract.publishes.items():
        builder.topic(topic, types, action="send")
    for topic, types in contract.consumes.items():
        builder.topic(topic, types, action="receive")
    return builder.document()


def _catalogue(topic: str) -> Mapping[str, type[EventData]]:
    if topic == PARTNER_TOPIC:
        return PARTNER_EVENTS
    if topic in DOMAIN_EVENTS:
        return DOMAIN_EVENTS[topic]
    raise ValueError(f"{topic!r} is neither a domain topic nor {PARTNER_TOPIC!r}")


def _check(contract: ServiceContract) -> None:
    for topic in contract.publishes:
        if topic == PARTNER_TOPIC and not contract.partner_gateway:
            raise ValueError("services do not publish on partner topics")
    for topics in (contract.publishes, contract.consumes):
        for topic, types in topics.items():
            unknown = sorted(set(types) - set(_catalogue(topic)))
            if unknown:
                raise ValueError(f"no such event types on {topic}: {unknown}")
            if not types:
                raise ValueError(f"{contract.name} declares {topic} without event types")
    if contract.consumes and not contract.group_id:
        raise ValueError(f"{contract.name} consumes events, so it needs a consumer group")


def _channel_id(topic: str) -> str:
    # Channel ids may not hold braces; this spelling matches the docs/schemas file names.
    return topic.replace("{", "").replace("}", "")


def _message_id(channel_id: str, name: str) -> str:
    return f"{channel_id}__{name}"


class _Builder:
    def __init__(self, contract: ServiceContract) -> None:
        self._contract = contract
        self._channels: JsonObject = {}
        self._operations: JsonObject = {}
        self._messages: JsonObject = {}
        self._schemas: JsonObject = {}

    def document(self) -> JsonObject:
        contract = self._contract
        description = (
            f"{contract.description}\n\n"
            "Generated from the event catalogue (`libs/common/src/common/events`) and "
            f"`{contract.name}/contract.py`. Topic names are logical: a deployment may put a "
            "configured prefix in front of every topic and consumer group."
        )
        document: JsonObject = {
            "asyncapi": ASYNCAPI_VERSION,
            "info": {
                "title": contract.title,
                "version": contract.version,
                "description": description,
            },
            "defaultContentType": CONTENT_TYPE,
            "servers": {
                "development": {
                    "host": "127.0.0.1:9092",
                    "protocol": "kafka",
                    "description": "The local broker of `make infra-up`.",
                }
            },
            "channels": self._channels,
            "operations": self._operations,
            "components": {"messages": self._messages, "schemas": self._schemas},
        }
        return copy.deepcopy(document)

    def topic(
        self, topic: str, types: tuple[str, ...], *, action: Literal["send", "receive"]
    ) -> None:
        channel_id = _channel_id(topic)
        channel = self._channel(topic, channel_id)
        catalogue = _catalogue(topic)
        for event_type in types:
            message_id = _message_id(channel_id, event_type)
            if message_id not in self._messages:
                self._messages[message_id] = self._message(topic, event_type, catalogue[event_type])
            channel["messages"][event_type] = {"$ref": f"#/components/messages/{message_id}"}
        verb = "Publishes" if action == "send" else f"Consumes (group `{self._contract.group_id}`)"
        operation: JsonObject = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"{verb}: {', '.join(sorted(types))}",
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{t}"} for t in sorted(types)],
        }
        if action == "receive":
            operation["bindings"] = {
                "kafka": {
                    "groupId": {"type": "string", "enum": [self._contract.group_id]},
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            }
            # This service's consumer writes what it cannot process to the twin.
            dlq_id = channel_id + DLQ_SUFFIX
            self._operations[f"send.{dlq_id}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{dlq_id}"},
                "summary": f"Dead-letters records of {topic} that group "
                f"`{self._contract.group_id}` can never process",
                "messages": [{"$ref": f"#/channels/{dlq_id}/messages/{_DLQ_MESSAGE}"}],
            }
        self._operations[f"{action}.{channel_id}"] = operation

    def _channel(self, topic: str, channel_id: str) -> JsonObject:
        if channel_id in self._channels:
            existing: JsonObject = self._channels[channel_id]
            return existing
        partner = topic == PARTNER_TOPIC
        if partner:
            description = (
                "One topic per partner, written only by that partner (Kafka ACLs). Consumers "
                "subscribe by pattern. `source` must be `partner/<partner_id>` of the topic, and "
                "the type must be one the partner catalogue allows that partner."
            )
        else:
            producer = topic.split(".", 1)[0]
            description = f"Domain events of the {producer} service; only {producer} writes here."
        description += (
            " Record key: the envelope's `subject` (the driver id), so one driver's events stay in"
            " order. Created at start-up with the configured partition count (12 by default)."
        )
        channel: JsonObject = {
            "address": topic,
            "title": topic,
            "description": description,
            "messages": {},
        }
        dlq_id = channel_id + DLQ_SUFFIX
        dlq_message_id = _message_id(dlq_id, _DLQ_MESSAGE)
        dlq: JsonObject = {
            "address": topic + DLQ_SUFFIX,
            "title": topic + DLQ_SUFFIX,
            "description": (
                f"Dead letters of `{topic}`: the original record's key and value, byte for byte, "
                "with `dlq-*` headers saying why and where from. Nothing invalid is dropped "
                "silently."
            ),
            "messages": {_DLQ_MESSAGE: {"$ref": f"#/components/messages/{dlq_message_id}"}},
        }
        if partner:
            parameters = {"partner_id": _partner_parameter()}
            channel["parameters"] = parameters
            dlq["parameters"] = copy.deepcopy(parameters)
        self._channels[channel_id] = channel
        self._channels[dlq_id] = dlq
        self._messages[dlq_message_id] = _dead_letter_message(topic)
        return channel

    def _message(self, topic: str, event_type: str, model: type[EventData]) -> JsonObject:
        data = model.model_json_schema(ref_template=_SCHEMA_REF)
        for name, schema in data.pop("$defs", {}).items():
            if self._schemas.setdefault(name, schema) != schema:
                raise ValueError(f"two different schemas are both named {name!r}")
        payload = CloudEvent.model_json_schema(ref_template=_SCHEMA_REF)
        if "$defs" in payload:
            raise ValueError("the envelope schema is expected to be self-contained")
        payload["title"] = f"{model.__name__}Event"
        payload["description"] = f"A `{event_type}` event on `{topic}` (CloudEvents 1.0, JSON)."
        properties = payload["properties"]
        properties["type"] = {**properties["type"], "const": event_type}
        properties["data"] = data
        if "driver_id" in model.model_fields:
            subject = "The driver id (equal to `data.driver_id`)."
        else:
            subject = "Who the event is about: this type has no driver id yet (see docs/events.md)."
        properties["subject"] = {**properties["subject"], "description": subject}
        if topic == PARTNER_TOPIC:
            properties["source"] = {
                **properties["source"],
                "pattern": "^partner/[a-z0-9-]+$",
                "description": "`partner/<partner_id>` of the topic the event is written to.",
            }
        return {
            "name": event_type,
            "title": event_type,
            "summary": f"`{event_type}` on `{topic}`",
            "contentType": CONTENT_TYPE,
            "headers": _headers_schema({}),
            "payload": payload,
            "bindings": {"kafka": _key_binding(f"The envelope's `subject`, UTF-8. {subject}")},
        }


def _partner_parameter() -> JsonObject:
    return {
        "description": (
            "The partner's id in the partner catalogue (configuration); the default catalogue's "
            "ids are listed as examples."
        ),
        "examples": sorted(DEFAULT_PARTNERS),
    }


def _key_binding(description: str) -> JsonObject:
    return {
        "key": {"type": "string", "description": description},
        "bindingVersion": KAFKA_BINDING_VERSION,
    }


def _headers_schema(required: Mapping[str, str]) -> JsonObject:
    properties: JsonObject = {
        "content-type": {
            "type": "string",
            "description": f"`{CONTENT_TYPE}` when written by a driverhome service.",
        }
    }
    properties.update({name: {"type": "string", "description": d} for name, d in required.items()})
    schema: JsonObject = {"type": "object", "properties": properties}
    if required:
        schema["required"] = sorted(required)
    return schema


def _dead_letter_message(topic: str) -> JsonObject:
    return {
        "name": _DLQ_MESSAGE,
        "title": f"Dead letter of {topic}",
        "summary": "The original record, unchanged, and why it could not be processed",
        "headers": _headers_schema(_DLQ_HEADERS),
        "payload": {
            "description": (
                f"The original value of the record from `{topic}`, byte for byte: usually one of "
                "that channel's messages, but it is here because it could not be processed, so "
                "it may be anything, even invalid JSON."
            )
        },
        "bindings": {"kafka": _key_binding("The original record's key, unchanged.")},
    }
