"""Templates: the text of each notifying event per language, as an operator saved it or the
built-in default (the template language itself lives in ``notify.templates``).
"""

from __future__ import annotations

from typing import Any

from common.clock import Clock
from notify.domain import Content, InvalidTemplate, Language, NotFound
from notify.store.templates import TemplateStore
from notify.templates import DEFAULTS, spec_for, validate

FALLBACK_LANGUAGE: Language = "zh-CN"


class Templates:
    def __init__(self, templates: TemplateStore, *, clock: Clock) -> None:
        self._templates = templates
        self._clock = clock

    async def template(self, event_type: str, language: Language) -> tuple[Content, bool]:
        """The text in use and whether an operator set it (False: the built-in default)."""
        spec_for(event_type)
        stored = await self._templates.get(event_type, language)
        if stored is not None:
            return Content(title=stored["title"], body=stored["body"]), True
        default = DEFAULTS.get(event_type, {}).get(language)
        if default is None:
            raise NotFound("template", f"{event_type}/{language}")
        return default, False

    async def wording(self, event_type: str, language: Language) -> tuple[Content, Language]:
        """The text to send in this language, else in Chinese; the language it is in."""
        candidates: tuple[Language, ...] = (language, FALLBACK_LANGUAGE)
        for lang in candidates:
            stored = await self._templates.get(event_type, lang)
            if stored is not None:
                return Content(title=stored["title"], body=stored["body"]), lang
            default = DEFAULTS.get(event_type, {}).get(lang)
            if default is not None:
                return default, lang
        raise InvalidTemplate(f"no template for {event_type}")

    async def save_template(
        self, event_type: str, language: Language, content: Content, by: str
    ) -> dict[str, Any]:
        validate(event_type, content)
        return await self._templates.save(event_type, language, content, by, self._clock())

    async def reset_template(self, event_type: str, language: Language) -> bool:
        return await self._templates.delete(event_type, language)
