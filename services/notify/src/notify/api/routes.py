from __future__ import annotations

from fastapi import APIRouter

# The notify API arrives with its issue; the router is mounted so the service's shape is complete.
router = APIRouter(prefix="/v1", tags=["notify"])
