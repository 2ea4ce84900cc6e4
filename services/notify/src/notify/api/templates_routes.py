"""HTTP for templates (operators): the texts in use, saving, resetting and previews."""

from __future__ import annotations

from fastapi import APIRouter, Response

from common.problems import Problem
from notify.api.dependencies import NotifyDep, TemplateEditor
from notify.api.schemas import PreviewRequest, PreviewView, TemplateRequest, TemplateView
from notify.domain import LANGUAGES, Content, Language, UnknownVariables
from notify.service import Notify
from notify.templates import (
    NOTIFYING,
    placeholders,
    render,
    sample_variables,
    spec_for,
    validate,
)

router = APIRouter(prefix="/v1", tags=["templates"])


def _language(language: str) -> Language:
    if language not in LANGUAGES:
        raise Problem(404, "Not Found", f"languages are {', '.join(LANGUAGES)}")
    return language


def _event_type(event_type: str) -> str:
    if event_type not in NOTIFYING:
        raise Problem(404, "Not Found", f"{event_type} has no template")
    return event_type


async def _template_view(notify: Notify, event_type: str, language: Language) -> TemplateView:
    content, customised = await notify.templates.template(event_type, language)
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


@router.get("/templates", response_model=list[TemplateView], summary="Every template")
async def list_templates(principal: TemplateEditor, notify: NotifyDep) -> list[TemplateView]:
    return [
        await _template_view(notify, event_type, language)
        for event_type in NOTIFYING
        for language in LANGUAGES
    ]


@router.get(
    "/templates/{event_type}/{language}",
    response_model=TemplateView,
    summary="The template in use for an event type and language",
)
async def get_template(
    event_type: str, language: str, principal: TemplateEditor, notify: NotifyDep
) -> TemplateView:
    return await _template_view(notify, _event_type(event_type), _language(language))


@router.put(
    "/templates/{event_type}/{language}",
    response_model=TemplateView,
    summary="Save a template; unknown variables are refused (422)",
)
async def put_template(
    event_type: str,
    language: str,
    body: TemplateRequest,
    principal: TemplateEditor,
    notify: NotifyDep,
) -> TemplateView:
    event_type, lang = _event_type(event_type), _language(language)
    await notify.templates.save_template(
        event_type, lang, Content(title=body.title, body=body.body), principal.actor
    )
    return await _template_view(notify, event_type, lang)


@router.delete(
    "/templates/{event_type}/{language}",
    status_code=204,
    summary="Go back to the built-in text",
)
async def reset_template(
    event_type: str, language: str, principal: TemplateEditor, notify: NotifyDep
) -> Response:
    await notify.templates.reset_template(_event_type(event_type), _language(language))
    return Response(status_code=204)


@router.post(
    "/templates/{event_type}/{language}/preview",
    response_model=PreviewView,
    summary="Render the saved template, or a draft, with sample or given variables",
)
async def preview_template(
    event_type: str,
    language: str,
    body: PreviewRequest,
    principal: TemplateEditor,
    notify: NotifyDep,
) -> PreviewView:
    event_type, lang = _event_type(event_type), _language(language)
    current, _ = await notify.templates.template(event_type, lang)
    draft = Content(title=body.title or current.title, body=body.body or current.body)
    spec = spec_for(event_type)
    validate(event_type, draft)
    unknown = sorted(set(body.variables) - spec.variables)
    if unknown:
        raise UnknownVariables(f"unknown variables: {', '.join(unknown)}")
    variables = {**sample_variables(event_type), **body.variables}
    used = set(placeholders(draft.title) + placeholders(draft.body))
    title, text = render(draft, variables)
    return PreviewView(
        title=title, body=text, variables={k: v for k, v in variables.items() if k in used}
    )
