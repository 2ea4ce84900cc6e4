"""Notify's use cases, one object per concern, composed over one :class:`NotificationRecords`.

delivery.py (an event into notifications; held, SMS and webhook sending; SMS receipts),
inbox.py (a driver's inbox and one notification's tracking), preferences.py (channels,
language, quiet hours, SMS number), template_admin.py (operators' texts and the defaults),
webhooks.py (partner subscriptions), broadcasts.py (create, resolve into pages, fan out),
driver_facts.py (what other services announced about drivers). records.py holds what they
share: planning notification documents, their outbox and their delivered/failed states.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.bus import Publisher
from common.clock import Clock
from common.erased_drivers import ErasedDrivers
from common.faults import Faults
from common.outbox import RelayRef, no_relay
from common.partner_directory import PartnerDirectory
from common.partner_links import PartnerLinkBook
from common.pii import PiiProtector
from notify.broadcasts import Broadcasts
from notify.delivery import Channels, Delivery, DeliveryStores
from notify.driver_facts import DriverFactsBook
from notify.driving import DrivingState
from notify.honours import HonourAnnouncements
from notify.inbox import Inbox
from notify.partner_links import NotificationConsents, PartnerAudience
from notify.preferences import PreferenceBook
from notify.records import NotificationRecords
from notify.settings import NotifySettings
from notify.store.broadcasts import BroadcastStore
from notify.store.drivers import DriverStore
from notify.store.notifications import NotificationStore
from notify.store.rate_limits import RateLimitStore
from notify.store.templates import TemplateStore
from notify.store.webhooks import WebhookStore
from notify.template_admin import Templates
from notify.webhooks import Webhooks


@dataclass(frozen=True)
class Stores:
    notifications: NotificationStore
    drivers: DriverStore
    templates: TemplateStore
    webhooks: WebhookStore
    broadcasts: BroadcastStore
    rate_limits: RateLimitStore
    partner_links: PartnerLinkBook
    webhook_consents: NotificationConsents
    # The drivers erasure forgot (by pseudonym), for pages that carry their drivers' facts.
    erased: ErasedDrivers
    # The partners' status as partners.events announces it: a suspended one gets no webhooks.
    partners: PartnerDirectory


@dataclass(frozen=True)
class Notify:
    facts: DriverFactsBook
    delivery: Delivery
    inbox: Inbox
    preferences: PreferenceBook
    templates: Templates
    webhooks: Webhooks
    broadcasts: Broadcasts
    driving: DrivingState
    honours: HonourAnnouncements

    @classmethod
    def build(
        cls,
        stores: Stores,
        channels: Channels,
        *,
        settings: NotifySettings,
        clock: Clock,
        publisher: Publisher,
        pii: PiiProtector,
        faults: Faults,
        relay: RelayRef = no_relay,
    ) -> Notify:
        """Each part after the parts it uses."""
        records = NotificationRecords(
            stores.notifications,
            stores.webhooks,
            audience=PartnerAudience(stores.partner_links, stores.webhook_consents),
            publisher=publisher,
            settings=settings,
            clock=clock,
        )
        facts = DriverFactsBook(stores.drivers)
        templates = Templates(stores.templates, clock=clock)
        broadcasts = Broadcasts(
            records,
            stores.broadcasts,
            drivers=stores.drivers,
            erased=stores.erased,
            rate_limits=stores.rate_limits,
            settings=settings,
            faults=faults,
            relay=relay,
        )
        return cls(
            facts=facts,
            delivery=Delivery(
                records,
                stores=DeliveryStores(
                    drivers=stores.drivers,
                    webhooks=stores.webhooks,
                    rate_limits=stores.rate_limits,
                    partners=stores.partners,
                ),
                facts=facts,
                templates=templates,
                channels=channels,
                pii=pii,
                settings=settings,
            ),
            inbox=Inbox(records),
            preferences=PreferenceBook(stores.drivers, pii=pii, clock=clock),
            templates=templates,
            webhooks=Webhooks(
                stores.webhooks,
                policy=channels.policy,
                pii=pii,
                clock=clock,
                directory=stores.partners,
            ),
            broadcasts=broadcasts,
            driving=DrivingState(
                stores.drivers, stores.notifications, settings=settings, clock=clock
            ),
            honours=HonourAnnouncements(broadcasts, stores.drivers, templates, settings),
        )
