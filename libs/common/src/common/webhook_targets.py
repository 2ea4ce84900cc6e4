"""Webhooks that cannot be turned against the inside (SSRF, OWASP API7): notify's and partners'.

A target URL is resolved **once**; every address it resolves to must be public, IPv6 forms that
carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64
``64:ff9b::/96`` and ``64:ff9b:1::/48``, 6to4 ``2002::/16``, Teredo ``2001::/32``) judged by the
IPv4 address they carry as well. The request then goes to a checked address itself: the URL
names the IP, the ``Host`` header and TLS SNI (and so certificate checking) the original name.
The HTTP client never resolves the name again, so a name re-pointed between the check and the
connection (DNS rebinding) still reaches only the address that was checked.

Each post has its own connection, so a TLS connection made for one name never carries a request
for another name that happens to resolve to the same address. Redirects are never
followed, and proxies from the environment are ignored (a proxy would resolve the name itself).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> the addresses it resolves to (tests answer from a script).
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# SIIT's IPv4-translated addresses (RFC 2765): like a mapped one, a spelling of an IPv4 address.
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
# The only IPv6 addresses handed out as public: anything else (site-local fec0::/10, which
# older Pythons call global, among them) is refused, whatever ``is_global`` says.
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_LOW_32_BITS = 0xFFFFFFFF


class UnsafeTarget(Exception):
    """A webhook URL that would let a caller reach internal addresses (SSRF)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (a translator or tunnel would reach them)."""
    low = ipaddress.IPv4Address(int(address) & _LOW_32_BITS)
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if any(address in network for network in _NAT64):
        found.append(low)
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        found.append(low)
    if address in _IPV4_TRANSLATED:
        found.append(low)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # A scope id (fe80::1%eth0) is not part of the address.
    return [str(info[4][0]).split("%", 1)[0] for info in infos]


@dataclass(frozen=True)
class CheckedTarget:
    """A target URL with the addresses it resolved to, every one of them checked."""

    url: httpx.URL
    addresses: tuple[IpAddress, ...]

    def at(self, address: IpAddress) -> httpx.URL:
        """The URL with the checked address in place of the name."""
        return self.url.copy_with(host=str(address))

    @property
    def host_header(self) -> str:
        return self.url.netloc.decode("ascii")


class TargetPolicy:
    """Which webhook targets may be called: public addresses only, except ``allowed_networks``
    (loopback in tests, a partner's private link); anything in development."""

    def __init__(
        self,
        *,
        environment: str,
        allowed_networks: Sequence[str] = (),
        require_https: bool,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._anything_goes = environment == "development"
        self._allowed: list[IpNetwork] = [
            ipaddress.ip_network(n, strict=False) for n in allowed_networks
        ]
        self._require_https = require_https
        self._resolve = resolver

    def _allowed_network(self, address: IpAddress) -> bool:
        return any(address in network for network in self._allowed)

    def permitted(self, address: IpAddress) -> bool:
        if self._allowed_network(address) or self._anything_goes:
            return True
        if not isinstance(address, ipaddress.IPv6Address):
            return address.is_global and not address.is_multicast
        carried = embedded_ipv4(address)
        if carried and all(self._allowed_network(a) for a in carried):
            return True
        # A mapped address is only a spelling of the IPv4 one; the others are IPv6 addresses too.
        judged: list[IpAddress] = list(carried)
        if address.ipv4_mapped is None and address not in _IPV4_TRANSLATED:
            if address not in _GLOBAL_UNICAST and not carried:
                return False
            judged.append(address)
        return all(a.is_global and not a.is_multicast for a in judged)

    def _parse(self, url: str) -> tuple[httpx.URL, str, int]:
        allowed_schemes = ("https",) if self._require_https else ("http", "https")
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, ValueError) as exc:
            raise UnsafeTarget("the URL is not valid") from exc
        if parsed.scheme not in allowed_schemes:
            raise UnsafeTarget(f"the scheme must be {' or '.join(allowed_schemes)}")
        if parsed.userinfo:
            raise UnsafeTarget("credentials in the URL are not allowed")
        if not parsed.host:
            raise UnsafeTarget("the URL has no host")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        return parsed, parsed.host, port

    async def check(self, url: str) -> CheckedTarget:
        """Resolve once; raise UnsafeTarget unless every address is permitted."""
        parsed, host, port = self._parse(url)
        try:
            answered = await self._resolve(host, port)
            addresses = tuple(dict.fromkeys(ipaddress.ip_address(a) for a in answered))
        except (OSError, UnicodeError, ValueError) as exc:
            raise UnsafeTarget("the host does not resolve") from exc
        if not addresses:
            raise UnsafeTarget("the host does not resolve")
        if not all(self.permitted(a) for a in addresses):
            raise UnsafeTarget(
                "the host resolves to a loopback, private, link-local or reserved address"
            )
        return CheckedTarget(parsed, addresses)


class PinnedClient:
    """Posts to checked targets only, connecting to the checked address.

    Each post has its own connection (one TLS context shared): a pooled connection made for one
    name would otherwise carry a request for another name that resolves to the same address.
    """

    def __init__(
        self,
        policy: TargetPolicy,
        *,
        timeout: float,
        transport: Callable[[], httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self.policy = policy
        self._timeout = timeout
        self._transport = transport
        self._tls = httpx.create_ssl_context()

    async def post(self, url: str, *, content: bytes, headers: dict[str, str]) -> httpx.Response:
        """Check ``url`` (UnsafeTarget) and post to the first checked address that connects."""
        target = await self.policy.check(url)
        sent = {**headers, "Host": target.host_header}
        failure: httpx.ConnectError | None = None
        async with httpx.AsyncClient(
            timeout=self._timeout,
            follow_redirects=False,
            trust_env=False,
            verify=self._tls,
            transport=self._transport() if self._transport else None,
        ) as client:
            for address in target.addresses:
                try:
                    return await client.post(
                        target.at(address),
                        content=content,
                        headers=sent,
                        extensions={"sni_hostname": target.url.host},
                    )
                except httpx.ConnectError as exc:
                    failure = exc
        assert failure is not None
        raise failure
