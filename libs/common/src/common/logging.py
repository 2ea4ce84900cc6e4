"""JSON logs (structlog) with a last-line scrubber for personal numbers."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# A safety net, not the primary protection: code must never log PII in the first place.
# As people write them too: a country code (+86, 0086, 86) and spaces or dashes between groups.
_NATIONAL_ID = re.compile(r"(?<!\d)\d{6}[ -]?\d{8}[ -]?\d{3}[\dXx](?![\dXx])")
_PHONE = re.compile(r"(?<![\d+])(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d){8}(?!\d)")


def scrub(text: str) -> str:
    return _PHONE.sub("[phone]", _NATIONAL_ID.sub("[national-id]", text))


def describe_error(exc: BaseException, limit: int = 500) -> str:
    """What went wrong, scrubbed: the class, a store's error code and name, and the message.

    A class name alone ("WriteError") leaves an operator guessing; PyMongo's own text appends
    the whole server reply (with the offending key values), so its ``errmsg`` is used instead.
    """
    name = type(exc).__name__
    details = getattr(exc, "details", None)
    details = details if isinstance(details, dict) else {}
    code = getattr(exc, "code", None) or details.get("code")
    message = details.get("errmsg") or str(exc) or repr(exc)
    if code is not None:
        code_name = details.get("codeName")
        name = f"{name}(code={code}{f' {code_name}' if code_name else ''})"
    return scrub(f"{name}: {message}")[:limit]


def _scrub_processor(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if isinstance(value, str):
            event_dict[key] = scrub(value)
    return event_dict


def configure_logging(service: str, level: str = "INFO") -> None:
    """JSON lines on stderr for structlog and stdlib loggers alike (uvicorn, aiokafka…)."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _scrub_processor,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "pymongo"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
