"""Whether a partner's topic is there for the gateway to write: created and granted.

A partner registered through the API gets its topic, its grants and its Kafka user from the
platform (``make kafka-access`` locally; the topic and user resources in a cluster), not from
this service, which holds no right to grant anything. Until then the gateway answers 503 with
a reason instead of holding the request while the producer waits for a topic that is not there.
"""

from __future__ import annotations

import time

from aiokafka.admin import AIOKafkaAdminClient

from common.kafka_auth import settings_options
from common.settings import ServiceSettings

RECHECK_SECONDS = 5.0


class TopicCheck:
    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._ready: set[str] = set()
        self._missed: dict[str, float] = {}
        self._admin: AIOKafkaAdminClient | None = None

    async def ready(self, partner_id: str) -> bool:
        if partner_id in self._ready:
            return True
        missed = self._missed.get(partner_id)
        if missed is not None and time.monotonic() - missed < RECHECK_SECONDS:
            return False
        # The metadata a principal sees lists only the topics it may describe: present here
        # means created and granted.
        if self._settings.partner_topic(partner_id) in set(
            await (await self._client()).list_topics()
        ):
            self._ready.add(partner_id)
            self._missed.pop(partner_id, None)
            return True
        self._missed[partner_id] = time.monotonic()
        return False

    async def _client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                **settings_options(self._settings),
                client_id=f"{self._settings.service_name}-topic-check",
            )
            await admin.start()
            self._admin = admin
        return self._admin

    async def close(self) -> None:
        if self._admin is not None:
            await self._admin.close()
            self._admin = None


async def always_ready(partner_id: str) -> bool:
    return True
