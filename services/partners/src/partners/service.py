"""The partners service's use cases, one object per concern, composed in one place.

accounts.py (partner accounts and their announcements), ingest.py (HTTP ingest), receipts.py
(what became of each event: applied, rejected), booking.py (reference → driver id, grades),
webhooks.py (notices to partners' webhooks: rejections, linked references, events parked too
long).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.asynchronous.database import AsyncDatabase

from common.bus import Publisher
from common.clock import Clock, utc_now
from common.outbox import RelayRef, no_relay
from common.partner_links import PartnerLinkBook
from common.pii import PiiProtector
from common.webhook_targets import PinnedClient, TargetPolicy
from partners.accounts import Accounts, TopicMaker, no_topics
from partners.api_keys import ApiKeys
from partners.booking import Booking
from partners.bus_check import always_ready
from partners.ingest import Ingest, Limits
from partners.receipts import Receipts
from partners.settings import PartnersSettings
from partners.store.api_keys import ApiKeyStore
from partners.store.links import GradeStore, LinkStore
from partners.store.notices import NoticeStore
from partners.store.partners import PartnerStore
from partners.store.quotas import QuotaStore
from partners.store.receipts import ReceiptStore
from partners.store.rejections import RejectionStore
from partners.webhooks import Sending, WebhookNotices

Document = dict[str, Any]


@dataclass(frozen=True)
class Partners:
    accounts: Accounts
    ingest: Ingest
    receipts: Receipts
    booking: Booking
    notices: WebhookNotices
    api_keys: ApiKeys

    @classmethod
    def build(
        cls,
        db: AsyncDatabase[Document],
        settings: PartnersSettings,
        publisher: Publisher,
        *,
        relay: RelayRef = no_relay,
        make_topic: TopicMaker = no_topics,
        clock: Clock = utc_now,
        topic_of: Callable[[str], str] | None = None,
        topic_ready: Callable[[str], Awaitable[bool]] = always_ready,
    ) -> Partners:
        """Each part after the parts it uses."""
        pii = PiiProtector.from_settings(settings)
        accounts = Accounts(PartnerStore(db), pii, relay=relay, make_topic=make_topic, clock=clock)
        receipt_store = ReceiptStore(db)
        receipts = Receipts(
            receipt_store,
            RejectionStore(db),
            NoticeStore(db),
            topic_prefix=settings.topic_prefix,
            parked_notice_after=timedelta(hours=settings.parked_notice_after_hours),
            clock=clock,
        )
        ingest = Ingest(
            receipt_store,
            QuotaStore(db),
            publisher,
            Limits(
                rate_per_second=settings.default_rate_per_second,
                daily=settings.default_daily_quota,
                timezone=settings.district_timezone,
                max_message_bytes=settings.max_message_bytes,
            ),
            topic_of=topic_of or settings.partner_topic,
            topic_ready=topic_ready,
            clock=clock,
        )
        notices = WebhookNotices(
            receipts.notices,
            accounts,
            Sending(
                timeout_seconds=settings.webhook_timeout_seconds,
                max_attempts=settings.webhook_max_attempts,
                backoff_max_seconds=settings.webhook_backoff_max_seconds,
                sweep_seconds=settings.webhook_sweep_seconds,
            ),
            PinnedClient(
                TargetPolicy(
                    environment=settings.environment,
                    allowed_networks=settings.webhook_allowed_networks,
                    require_https=settings.environment == "production",
                ),
                timeout=settings.webhook_timeout_seconds,
            ),
            scans=[receipts.owe_parked_too_long],
            clock=clock,
        )
        booking = Booking(
            LinkStore(db),
            GradeStore(db),
            receipts,
            partner_links=PartnerLinkBook(db),
            zone=ZoneInfo(settings.district_timezone),
            clock=clock,
        )
        return cls(
            accounts=accounts,
            ingest=ingest,
            receipts=receipts,
            booking=booking,
            notices=notices,
            api_keys=ApiKeys(ApiKeyStore(db), accounts, clock=clock),
        )
