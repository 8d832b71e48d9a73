"""Which addresses a webhook may reach: only hosts an admin allowed, never a private,
loopback or link-local address unless that address itself was allowed.

The host is resolved once; every address it resolves to must pass, and the sender connects
to the checked address (not to the name again), so a DNS answer that changes between the
check and the connection (DNS rebinding) cannot point a delivery into the local network.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from jikimi.errors import JikimiError

SCHEMES = {"http": 80, "https": 443}


class DestinationRefused(JikimiError):
    """A webhook URL or address the admin did not allow."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    path: str  # with the query string


def parse_url(url: str) -> Destination:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as e:
        raise DestinationRefused(f"{url!r} is not a URL ({e})") from None
    if parts.scheme not in SCHEMES:
        raise DestinationRefused(f"{url!r}: a webhook URL must start with https:// (or http://)")
    if not parts.hostname:
        raise DestinationRefused(f"{url!r} has no host")
    if parts.username or parts.password:
        raise DestinationRefused(f"{url!r}: put no user or password in the URL; deliveries are signed instead")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(parts.scheme, parts.hostname.lower(), port or SCHEMES[parts.scheme], path)


def normalise_allowed(addresses: list[str]) -> list[str]:
    """Addresses or networks an admin allows explicitly (e.g. 127.0.0.1, 10.0.0.0/24)."""
    try:
        return [str(ipaddress.ip_network(a.strip(), strict=False)) for a in addresses]
    except ValueError as e:
        raise DestinationRefused(f"not an IP address or network: {e}") from None


def is_internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Private, loopback, link-local, reserved, shared (CGNAT) or multicast: not the internet."""
    mapped = getattr(address, "ipv4_mapped", None)
    address = mapped or address
    return not address.is_global or address.is_multicast


def checked_address(host: str, port: int, allowed: list[str]) -> str:
    """Resolve `host` once and return an address to connect to, or refuse."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise DestinationRefused(f"{host} cannot be resolved ({e.strerror})") from None
    networks = [ipaddress.ip_network(a) for a in allowed]
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        if is_internal(address) and not any(address in n for n in networks):
            raise DestinationRefused(f"{host} resolves to {address}, an internal address that was not allowed "
                                     f"(allow it with `jikimi webhook allow {host} --address {address}`)")
    return addresses[0]
