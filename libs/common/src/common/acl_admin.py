"""Kafka's Admin API for ACLs: creating and deleting many bindings in one request each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
)
from aiokafka.protocol.api import Request

if TYPE_CHECKING:  # common.access renders the bindings and imports these functions
    from common.access import Binding


class _CreateAcls(Request[CreateAclsRequest_v1]):  # type: ignore[misc]
    """CreateAcls with many creations in one request (aiokafka's own wrapper sends one)."""

    API_KEY = 30

    def __init__(self, bindings: Sequence[Binding]) -> None:
        self._bindings = bindings

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class([b.wire() for b in self._bindings])


class _DeleteAcls(Request[DeleteAclsRequest_v1]):  # type: ignore[misc]
    API_KEY = 31

    def __init__(self, bindings: Sequence[Binding]) -> None:
        self._bindings = bindings

    def build(self, request_struct_class: type[DeleteAclsRequest_v1]) -> DeleteAclsRequest_v1:
        return request_struct_class([b.wire() for b in self._bindings])


class AclError(RuntimeError):
    pass


async def create_acls(admin: AIOKafkaAdminClient, bindings: Sequence[Binding]) -> None:
    """Create the bindings (an existing one is left as it is: idempotent)."""
    for chunk in _chunks(bindings):
        response = await admin._send_request(_CreateAcls(chunk))
        errors = [(c, m) for c, m in response.creation_responses if c]
        if errors:
            raise AclError(f"CreateAcls refused: {errors[:3]}")


async def delete_acls(admin: AIOKafkaAdminClient, bindings: Sequence[Binding]) -> None:
    for chunk in _chunks(bindings):
        response = await admin._send_request(_DeleteAcls(chunk))
        errors = [(r[0], r[1]) for r in response.filter_responses if r[0]]
        if errors:
            raise AclError(f"DeleteAcls refused: {errors[:3]}")


def _chunks(items: Sequence[Binding], size: int = 500) -> Iterable[Sequence[Binding]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
