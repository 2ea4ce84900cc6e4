from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from common.auth import Principal, require_roles
from common.pagination import PageParams, encode_cursor
from common.problems import Problem
from common.requests import IdempotentRequests
from notify.api.schemas import (
    BroadcastPage,
    BroadcastRequest,
    BroadcastView,
    InboxItem,
    InboxPage,
    NotificationView,
    PreferencesRequest,
    PreferencesView,
    PreviewRequest,
    PreviewView,
    SmsReceipt,
    TemplateRequest,
    TemplateView,
    WebhookRequest,
    WebhookView,
)
from notify.domain import (
    LANGUAGES,
    Conflict,
    Content,
    InvalidBroadcast,
    InvalidPreferences,
    InvalidTemplate,
    Language,
    NotFound,
    UnsafeTarget,
)
from notify.service import NotifyService, broadcast_of
from notify.settings import NotifySettings
from notify.templates import (
    NOTIFYING,
    placeholders,
    render,
    sample_variables,
    spec_for,
    validate,
)

router = APIRouter(prefix="/v1")

Driverish = Annotated[Principal, Depends(require_roles("operator", "driver"))]
Operator = Annotated[Principal, Depends(require_roles("operator"))]
PartnerOrOperator = Annotated[Principal, Depends(require_roles("partner", "operator"))]


def _service(request: Request) -> NotifyService:
    service: NotifyService = request.app.state.service
    return service


Service = Annotated[NotifyService, Depends(_service)]


def _own_driver(principal: Principal, driver_id: str) -> None:
    """Drivers see only their own data; another driver's is indistinguishable from none."""
    if principal.role == "driver" and principal.driver_id != driver_id:
        raise Problem(404, "Not Found", "no such driver")


def _unprocessable(message: str, field: str, **extra: Any) -> Problem:
    return Problem(
        422,
        "Unprocessable Content",
        message,
        extra={"errors": [{"loc": ["body", field], "msg": message}], **extra},
    )


# ---- inbox ------------------------------------------------------------------------------


@router.get(
    "/drivers/{driver_id}/inbox",
    response_model=InboxPage,
    tags=["inbox"],
    summary="A driver's notifications, newest first",
)
async def inbox(
    driver_id: str,
    principal: Driverish,
    service: Service,
    page: Annotated[PageParams, Depends()],
    unread: Annotated[bool, Query(description="Only unread ones")] = False,
    archived: Annotated[bool, Query(description="The archive instead of the inbox")] = False,
) -> InboxPage:
    _own_driver(principal, driver_id)
    docs = await service.inbox(
        driver_id, after=page.after, limit=page.limit + 1, unread_only=unread, archived=archived
    )
    more = len(docs) > page.limit
    docs = docs[: page.limit]
    cursor = (
        encode_cursor({"t": docs[-1]["created_at"].isoformat(), "id": docs[-1]["_id"]})
        if more and docs
        else None
    )
    return InboxPage(
        items=[InboxItem.of(d) for d in docs],
        next_cursor=cursor,
        unread=await service.unread_count(driver_id),
    )


@router.post(
    "/drivers/{driver_id}/inbox/{notification_id}/{action}",
    response_model=InboxItem,
    tags=["inbox"],
    summary="Mark an inbox item read or unread, or archive it",
)
async def mark(
    driver_id: str,
    notification_id: str,
    action: Literal["read", "unread", "archive"],
    principal: Annotated[Principal, Depends(require_roles("driver"))],
    service: Service,
) -> InboxItem:
    _own_driver(principal, driver_id)
    try:
        return InboxItem.of(await service.mark(driver_id, notification_id, action))
    except NotFound as exc:
        raise Problem(404, "Not Found", "no such inbox item") from exc


@router.get(
    "/notifications/{notification_id}",
    response_model=NotificationView,
    tags=["deliveries"],
    summary="Delivery tracking of one notification on one channel",
)
async def notification(
    notification_id: str, principal: Driverish, service: Service
) -> NotificationView:
    try:
        doc = await service.notification(notification_id)
    except NotFound as exc:
        raise Problem(404, "Not Found", "no such notification") from exc
    _own_driver(principal, doc["driver_id"])
    return NotificationView.of(doc)


# ---- preferences ------------------------------------------------------------------------


@router.get(
    "/drivers/{driver_id}/preferences",
    response_model=PreferencesView,
    tags=["preferences"],
    summary="A driver's channels per category, language and quiet hours",
)
async def get_preferences(
    driver_id: str, principal: Driverish, service: Service
) -> PreferencesView:
    _own_driver(principal, driver_id)
    return PreferencesView.of(await service.preferences(driver_id))


@router.put(
    "/drivers/{driver_id}/preferences",
    response_model=PreferencesView,
    tags=["preferences"],
    summary="Set a driver's preferences (the driver only)",
)
async def put_preferences(
    driver_id: str,
    body: PreferencesRequest,
    principal: Annotated[Principal, Depends(require_roles("driver"))],
    service: Service,
) -> PreferencesView:
    _own_driver(principal, driver_id)
    try:
        prefs = await service.set_preferences(
            driver_id,
            language=body.language,
            channels={k: list(v) for k, v in body.channels.items()},
            quiet_hours=body.quiet_hours,
            sms_phone=body.sms_phone,
            clear_sms_phone=body.clear_sms_phone,
        )
    except InvalidPreferences as exc:
        raise _unprocessable(exc.message, "sms_phone") from exc
    return PreferencesView.of(prefs)


# ---- templates (operators) ----------------------------------------------------------------


def _language(language: str) -> Language:
    if language not in LANGUAGES:
        raise Problem(404, "Not Found", f"languages are {', '.join(LANGUAGES)}")
    return language


def _event_type(event_type: str) -> str:
    if event_type not in NOTIFYING:
        raise Problem(404, "Not Found", f"{event_type} has no template")
    return event_type


async def _template_view(
    service: NotifyService, event_type: str, language: Language
) -> TemplateView:
    content, customised = await service.template(event_type, language)
    spec = spec_for(event_type)
    return TemplateView(
        event_type=event_type,
        language=language,
        category=spec.category,
        title=content.title,
        body=content.body,
        customised=customised,
        variables=sorted(spec.variables),
    )


@router.get(
    "/templates", response_model=list[TemplateView], tags=["templates"], summary="Every template"
)
async def list_templates(principal: Operator, service: Service) -> list[TemplateView]:
    return [
        await _template_view(service, event_type, language)
        for event_type in NOTIFYING
        for language in LANGUAGES
    ]


@router.get(
    "/templates/{event_type}/{language}",
    response_model=TemplateView,
    tags=["templates"],
    summary="The template in use for an event type and language",
)
async def get_template(
    event_type: str, language: str, principal: Operator, service: Service
) -> TemplateView:
    return await _template_view(service, _event_type(event_type), _language(language))


@router.put(
    "/templates/{event_type}/{language}",
    response_model=TemplateView,
    tags=["templates"],
    summary="Save a template; unknown variables are refused (422)",
)
async def put_template(
    event_type: str, language: str, body: TemplateRequest, principal: Operator, service: Service
) -> TemplateView:
    event_type, lang = _event_type(event_type), _language(language)
    try:
        await service.save_template(
            event_type, lang, Content(title=body.title, body=body.body), principal.sub
        )
    except InvalidTemplate as exc:
        raise _unprocessable(exc.message, "body", unknown_variables=exc.unknown) from exc
    return await _template_view(service, event_type, lang)


@router.delete(
    "/templates/{event_type}/{language}",
    status_code=204,
    tags=["templates"],
    summary="Go back to the built-in text",
)
async def reset_template(
    event_type: str, language: str, principal: Operator, service: Service
) -> Response:
    await service.reset_template(_event_type(event_type), _language(language))
    return Response(status_code=204)


@router.post(
    "/templates/{event_type}/{language}/preview",
    response_model=PreviewView,
    tags=["templates"],
    summary="Render the saved template, or a draft, with sample or given variables",
)
async def preview_template(
    event_type: str, language: str, body: PreviewRequest, principal: Operator, service: Service
) -> PreviewView:
    event_type, lang = _event_type(event_type), _language(language)
    current, _ = await service.template(event_type, lang)
    draft = Content(title=body.title or current.title, body=body.body or current.body)
    spec = spec_for(event_type)
    try:
        validate(event_type, draft)
    except InvalidTemplate as exc:
        raise _unprocessable(exc.message, "body", unknown_variables=exc.unknown) from exc
    unknown = sorted(set(body.variables) - spec.variables)
    if unknown:
        raise _unprocessable(f"unknown variables: {', '.join(unknown)}", "variables")
    variables = {**sample_variables(event_type), **body.variables}
    used = set(placeholders(draft.title) + placeholders(draft.body))
    title, text = render(draft, variables)
    return PreviewView(
        title=title, body=text, variables={k: v for k, v in variables.items() if k in used}
    )


# ---- webhook subscriptions (partners) ---------------------------------------------------


def _partner_scope(principal: Principal) -> str | None:
    """A partner's own id (its subscriptions only); None for operators (all of them)."""
    if principal.role == "operator":
        return None
    if not principal.partner_id:
        raise Problem(403, "Forbidden", "the token names no partner")
    return principal.partner_id


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookView,
    tags=["webhooks"],
    summary="Subscribe a partner endpoint; the signing secret is shown once",
)
async def subscribe(
    body: WebhookRequest,
    principal: Annotated[Principal, Depends(require_roles("partner"))],
    service: Service,
) -> WebhookView:
    partner_id = _partner_scope(principal)
    assert partner_id is not None
    try:
        doc, secret = await service.subscribe(
            partner_id, body.url, list(body.categories), body.fleet
        )
    except UnsafeTarget as exc:
        raise _unprocessable(f"webhook target refused: {exc.reason}", "url") from exc
    return WebhookView.of(doc, secret)


@router.get(
    "/webhooks", response_model=list[WebhookView], tags=["webhooks"], summary="Subscriptions"
)
async def list_webhooks(principal: PartnerOrOperator, service: Service) -> list[WebhookView]:
    docs = await service.stores.webhooks.of_partner(_partner_scope(principal))
    return [WebhookView.of(d) for d in docs]


@router.delete(
    "/webhooks/{subscription_id}", status_code=204, tags=["webhooks"], summary="Unsubscribe"
)
async def unsubscribe(
    subscription_id: str, principal: PartnerOrOperator, service: Service
) -> Response:
    if not await service.stores.webhooks.delete(subscription_id, _partner_scope(principal)):
        raise Problem(404, "Not Found", "no such subscription")
    return Response(status_code=204)


# ---- broadcasts (operators) ---------------------------------------------------------------


@router.post(
    "/broadcasts",
    status_code=201,
    response_model=BroadcastView,
    tags=["broadcasts"],
    summary="Send a message to a segment of drivers, now or at a time (Idempotency-Key)",
)
async def create_broadcast(
    body: BroadcastRequest,
    request: Request,
    principal: Operator,
    service: Service,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    requests: IdempotentRequests = request.app.state.idempotent_requests

    async def create() -> tuple[int, Any]:
        try:
            broadcast = await service.create_broadcast(
                category=body.category,
                urgency=body.urgency,
                segment=body.segment,
                content=dict(body.content),
                scheduled_at=body.scheduled_at,
                expires_at=body.expires_at,
                by=principal.sub,
            )
        except InvalidBroadcast as exc:
            raise _unprocessable(exc.message, "urgency") from exc
        return 201, BroadcastView.of(broadcast).model_dump(mode="json")

    status, answer = await requests.run(
        caller=principal.sub,
        key=idempotency_key,
        body=body.model_dump(mode="json"),
        action=create,
    )
    return JSONResponse(answer, status_code=status)


@router.get(
    "/broadcasts", response_model=BroadcastPage, tags=["broadcasts"], summary="Newest first"
)
async def list_broadcasts(
    principal: Operator, service: Service, page: Annotated[PageParams, Depends()]
) -> BroadcastPage:
    docs = await service.stores.broadcasts.newest(page.after, page.limit + 1)
    more = len(docs) > page.limit
    docs = docs[: page.limit]
    cursor = (
        encode_cursor({"t": docs[-1]["created_at"].isoformat(), "id": docs[-1]["_id"]})
        if more and docs
        else None
    )
    return BroadcastPage(
        items=[BroadcastView.of(broadcast_of(d)) for d in docs], next_cursor=cursor
    )


@router.get(
    "/broadcasts/{broadcast_id}",
    response_model=BroadcastView,
    tags=["broadcasts"],
    summary="A broadcast with its progress: targeted, delivered, failed, held",
)
async def get_broadcast(broadcast_id: str, principal: Operator, service: Service) -> BroadcastView:
    try:
        broadcast, progress, batches_done = await service.broadcast(broadcast_id)
    except NotFound as exc:
        raise Problem(404, "Not Found", "no such broadcast") from exc
    return BroadcastView.of(broadcast, progress, batches_done)


@router.post(
    "/broadcasts/{broadcast_id}/cancel",
    response_model=BroadcastView,
    tags=["broadcasts"],
    summary="Stop a broadcast; batches not yet fanned out are skipped",
)
async def cancel_broadcast(
    broadcast_id: str, principal: Operator, service: Service
) -> BroadcastView:
    try:
        return BroadcastView.of(await service.cancel_broadcast(broadcast_id))
    except NotFound as exc:
        raise Problem(404, "Not Found", "no such broadcast") from exc
    except Conflict as exc:
        raise Problem(409, "Conflict", str(exc)) from exc


# ---- SMS gateway receipts -----------------------------------------------------------------


@router.post(
    "/sms/receipts",
    status_code=204,
    tags=["deliveries"],
    summary="Delivery receipts from the SMS gateway (authenticated by its API key)",
)
async def sms_receipt(
    body: SmsReceipt,
    request: Request,
    service: Service,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    settings: NotifySettings = request.app.state.settings
    expected = settings.sms_api_key.get_secret_value() if settings.sms_api_key else None
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Problem(401, "Unauthorized", "the gateway key is required")
    if not await service.sms_receipt(body.out_id, body.status == "DELIVERED", body.error):
        raise Problem(404, "Not Found", "no such SMS notification")
    return Response(status_code=204)
