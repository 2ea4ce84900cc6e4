"""Notify domain errors as problem+json, whichever route they surface from: a missing thing is
a 404 naming its kind; invalid input is a 422 naming the field, like FastAPI's own validation
errors."""

from __future__ import annotations

from fastapi import FastAPI

from common.domain_errors import StatusTable, install_domain_errors
from notify.domain import Conflict, NotFound, NotifyError, Unprocessable

STATUSES: StatusTable = {NotFound: 404, Conflict: 409, Unprocessable: 422}


def install_notify_errors(app: FastAPI) -> None:
    install_domain_errors(app, NotifyError, STATUSES, default=422)
