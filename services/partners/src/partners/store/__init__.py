"""The only modules that touch the partners service's MongoDB collections, one per concern."""

from __future__ import annotations

from common import partner_links
from common.mongo import Indexes
from common.requests import IDEMPOTENCY_KEYS, idempotency_indexes
from partners.store import api_keys, links, notices, partners, quotas, receipts, rejections

ALL_INDEXES: list[Indexes] = [
    *partners.INDEXES,
    *quotas.INDEXES,
    *receipts.INDEXES,
    *rejections.INDEXES,
    *links.INDEXES,
    *api_keys.INDEXES,
    *notices.INDEXES,
    *partner_links.INDEXES,
    idempotency_indexes(),
]

__all__ = ["ALL_INDEXES", "IDEMPOTENCY_KEYS"]
