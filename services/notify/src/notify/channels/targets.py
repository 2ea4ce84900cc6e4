"""SSRF protection for webhook targets: every address a host resolves to must be public.

Checked when a subscription is saved and again before each send (a name may be re-pointed
after it was checked). Redirects are never followed, so a target cannot bounce a request
inward either.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from notify.domain import UnsafeTarget

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetPolicy:
    def __init__(
        self, *, environment: str, allowed_networks: Sequence[str] = (), require_https: bool
    ) -> None:
        self._anything_goes = environment == "development"
        self._allowed: list[IpNetwork] = [
            ipaddress.ip_network(n, strict=False) for n in allowed_networks
        ]
        self._require_https = require_https

    def _permitted(self, address: IpAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self._allowed):
            return True
        if self._anything_goes:
            return True
        return address.is_global and not address.is_multicast

    async def check(self, url: str) -> None:
        """Raise UnsafeTarget unless the URL is an http(s) target on public addresses only."""
        parts = urlsplit(url)
        allowed_schemes = ("https",) if self._require_https else ("http", "https")
        if parts.scheme not in allowed_schemes:
            raise UnsafeTarget(f"the scheme must be {' or '.join(allowed_schemes)}")
        if parts.username or parts.password:
            raise UnsafeTarget("credentials in the URL are not allowed")
        host = parts.hostname
        if not host:
            raise UnsafeTarget("the URL has no host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise UnsafeTarget("the port is not valid") from exc
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise UnsafeTarget("the host does not resolve") from exc
        addresses = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
        if not addresses:
            raise UnsafeTarget("the host does not resolve")
        refused = sorted(str(a) for a in addresses if not self._permitted(a))
        if refused:
            raise UnsafeTarget(
                "the host resolves to a loopback, private, link-local or reserved address"
            )
