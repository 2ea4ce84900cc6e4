"""HTTP for the points mall, signed statements and leaderboards.

Access: drivers their own redemptions and statements; operators everything; counter staff
(role ``station`` whose ``station_id`` is a counter id) only fulfilment at their counter.
Verifying a statement and reading the public key need no token: a school has no account here,
and the answer only tells whether a document the caller already holds is genuine.
"""

from __future__ import annotations

from fastapi import APIRouter

from points.api.redemptions_routes import router as redemptions_router
from points.api.rewards_routes import router as rewards_router
from points.api.statements_routes import router as statements_router
from points.api.vouchers_routes import router as vouchers_router

# In this order: a router's paths match before the next router's.
router = APIRouter()
router.include_router(rewards_router)
router.include_router(redemptions_router)
router.include_router(statements_router)
router.include_router(vouchers_router)
