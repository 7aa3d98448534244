"""Where notifications may go: a Subscription must not turn Dyad into a way into its own network.

Never allowed: link-local addresses (169.254.0.0/16, fe80::/10, where cloud metadata services
answer), the unspecified, multicast and reserved ranges, and well-known metadata host names.
Private and loopback addresses only when a setting allows them (DYAD_NOTIFY_ALLOW_PRIVATE for all
of them, DYAD_NOTIFY_ALLOWED_HOSTS for named hosts): by default an endpoint must be public.

Checked twice: on write, on the URL as written (literal addresses and names), so a client hears
422 at once; and on delivery, on every address the host name resolves to, connecting only to an
address that was checked, so a name that later resolves somewhere internal gets nothing.
"""

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

log = logging.getLogger("dyad.notify")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


@dataclass(frozen=True)
class EndpointPolicy:
    allow_private: bool  # private and loopback addresses, whatever the host
    allowed_hosts: frozenset[str]  # host names or addresses whose private/loopback addresses are allowed

    @classmethod
    def of(cls, allow_private: bool, allowed_hosts: Iterable[str]) -> "EndpointPolicy":
        return cls(allow_private, frozenset(h.strip().lower().strip("[]") for h in allowed_hosts if h.strip()))

    def url_problem(self, url: str) -> str | None:
        """Why a notification may not be sent to `url` as written; None when it may (so far)."""
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
        if not host:
            return "channel.endpoint has no host"
        if host in METADATA_HOSTS:
            return "channel.endpoint names a cloud metadata service"
        address = _literal(host)
        if address is not None:
            return self.address_problem(host, address)
        if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
            return self.address_problem(host, ipaddress.ip_address("127.0.0.1"))
        return None

    def address_problem(self, host: str, address: IPAddress) -> str | None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_link_local or address.is_unspecified or address.is_multicast:
            return "channel.endpoint is a link-local, unspecified or multicast address"
        if address.is_global:
            return None
        if address.is_reserved and not address.is_loopback:  # ::1 sits in the reserved ::/8
            return "channel.endpoint is a reserved address"
        if self.allow_private or host in self.allowed_hosts or str(address) in self.allowed_hosts:
            return None
        return (
            "channel.endpoint is a private or loopback address; an operator may allow it "
            "(DYAD_NOTIFY_ALLOWED_HOSTS, DYAD_NOTIFY_ALLOW_PRIVATE)"
        )


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, asked afresh for each new connection."""
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]


class EndpointRefused(httpcore.ConnectError):
    """The endpoint's address is not allowed; raised where a connection would have been made."""


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, checks every address, and connects to a checked one."""

    def __init__(self, policy: EndpointPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        name = host.lower().rstrip(".")
        try:
            addresses = await resolve(name, port)
        except OSError:
            raise httpcore.ConnectError("the endpoint's host did not resolve") from None
        problems = [p for p in (self.policy.address_problem(name, a) for a in addresses) if p]
        if problems or not addresses:
            log.warning("notification endpoint address refused")
            raise EndpointRefused(problems[0] if problems else "no address")
        return await self.inner.connect_tcp(
            str(addresses[0]), port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_transport(policy: EndpointPolicy) -> httpx.AsyncHTTPTransport:
    """httpx's transport with its connection pool built on GuardedBackend.

    httpx has no public way to hand its pool a network backend, so the pool it made is replaced
    by an equal one that has it. Environment proxies are not used: a proxy would be the address
    connected to, and checking it would say nothing about where the notification goes.
    """
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(), network_backend=GuardedBackend(policy)
    )
    return transport
