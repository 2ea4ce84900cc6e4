"""HTTP for a driver's inbox: the list, unread count, read/unread/archive."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from common.pagination import PageQuery
from common.schemas import QueryBool
from notify.api.dependencies import (
    Driver,
    Driverish,
    NotifyDep,
    newest_after,
    newest_cursor,
    own_driver,
)
from notify.api.schemas import InboxItem, InboxPage
from notify.inbox import InboxAction

router = APIRouter(prefix="/v1", tags=["inbox"])


@router.get(
    "/drivers/{driver_id}/inbox",
    response_model=InboxPage,
    summary="A driver's notifications, newest first",
)
async def inbox(
    driver_id: str,
    principal: Driverish,
    notify: NotifyDep,
    page: PageQuery,
    unread: Annotated[QueryBool, Query(description="Only unread ones")] = False,
    archived: Annotated[QueryBool, Query(description="The archive instead of the inbox")] = False,
) -> InboxPage:
    own_driver(principal, driver_id)
    docs = await notify.inbox.inbox(
        driver_id,
        after=newest_after(page),
        limit=page.limit + 1,
        unread_only=unread,
        archived=archived,
    )
    more = len(docs) > page.limit
    docs = docs[: page.limit]
    cursor = newest_cursor(page, docs[-1]["created_at"], docs[-1]["_id"]) if more and docs else None
    return InboxPage(
        items=[InboxItem.of(d) for d in docs],
        next_cursor=cursor,
        unread=await notify.inbox.unread_count(driver_id),
    )


@router.post(
    "/drivers/{driver_id}/inbox/{notification_id}/{action}",
    response_model=InboxItem,
    summary="Mark an inbox item read or unread, or archive it",
)
async def mark(
    driver_id: str,
    notification_id: str,
    action: InboxAction,
    principal: Driver,
    notify: NotifyDep,
) -> InboxItem:
    own_driver(principal, driver_id)
    return InboxItem.of(await notify.inbox.mark(driver_id, notification_id, action))
