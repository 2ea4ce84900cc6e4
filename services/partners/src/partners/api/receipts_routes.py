"""Receipts and rejections: what became of a partner's own events."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Path

from common.pagination import AfterTime, PageParams, PageQuery
from partners.api.dependencies import (
    PartnerAdmin,
    PartnerRole,
    PartnersDep,
    own_account,
    require_scope,
)
from partners.api.schemas import PartnerIdField, ReceiptView, RejectionPage, RejectionView
from partners.receipts import rejection_view
from partners.service import Partners

router = APIRouter(tags=["receipts"])
READ = ("events:read", "events:write")


@router.get(
    "/v1/events/{event_id}",
    summary="What became of one of the caller's events: accepted, parked, applied or rejected",
)
async def get_receipt(
    event_id: Annotated[str, Path(min_length=1, max_length=200)],
    partners: PartnersDep,
    principal: PartnerRole,
) -> ReceiptView:
    partner_id = require_scope(principal, *READ)
    await own_account(partners, partner_id)
    return ReceiptView.model_validate(await partners.receipts.receipt(partner_id, event_id))


@router.get(
    "/v1/rejections",
    summary="Every dead-lettered record of the caller's topic, oldest first, with the reasons",
)
async def list_rejections(
    partners: PartnersDep, principal: PartnerRole, page: PageQuery
) -> RejectionPage:
    partner_id = require_scope(principal, *READ)
    await own_account(partners, partner_id)
    return await _rejections(partners, partner_id, page)


@router.get(
    "/v1/partners/{partner_id}/rejections",
    tags=["partner accounts"],
    summary="A partner's dead-lettered records, oldest first (operators with partners:manage)",
)
async def partner_rejections(
    partner_id: Annotated[PartnerIdField, Path()],
    partners: PartnersDep,
    _: PartnerAdmin,
    page: PageQuery,
) -> RejectionPage:
    await partners.accounts.get(partner_id)  # an unknown partner answers 404
    return await _rejections(partners, partner_id, page)


async def _rejections(partners: Partners, partner_id: str, page: PageParams) -> RejectionPage:
    after = page.after(AfterTime)
    found = await partners.receipts.rejections_page(
        partner_id, (after.at.astimezone(UTC), after.id) if after else None, page.limit
    )
    last = found[-1] if found else None
    position = AfterTime(at=last["recorded_at"], id=last["_id"]) if last else None
    cursor = page.next_if_full(len(found), position)
    items = [RejectionView.model_validate(rejection_view(doc)) for doc in found]
    return RejectionPage(items=items, next_cursor=cursor)
