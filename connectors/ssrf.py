"""The SSRF guard: every host a user types into a connection goes through `resolve_target`.

A connection's URL is user input that the server will fetch, so a careless client would let a user
read the cloud metadata service, a database admin page on localhost or an internal tool. The guard:

1. allows only http and https;
2. parses the host the way the C resolver would (``127.1``, ``2130706433``, ``0x7f.1`` and
   ``017700000001`` are all 127.0.0.1), refuses known metadata host names, and resolves the rest
   ONCE with ``socket.getaddrinfo``;
3. refuses the target if ANY address is internal: a round-robin answer of one public and one private
   address must not let the client pick the private one;
4. hands back the checked address, which the HTTP client connects to (``connectors.http`` pins it),
   so a second DNS answer cannot swap in an internal address between check and connect.

Python's ``ipaddress.is_private`` misses CGNAT (100.64/10), NAT64 and 6to4 forms that embed an IPv4
address, and says nothing of metadata services on public addresses (Azure's 168.63.129.16), so the
ranges are listed explicitly here and ``is_global`` is only a second net.

``settings.CONNECTOR_ALLOWED_NETWORKS`` (CIDRs) lets a self-hoster reach an internal tool, e.g. Jira
Data Center on 10.0.0.0/8. Metadata addresses are refused even then.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from connectors.base import ConnectorError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = ("http", "https")

# Cloud metadata services (AWS, ECS, GCP, Azure, Alibaba, Oracle, DigitalOcean, OpenStack ...).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, DigitalOcean, OpenStack, Oracle
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.123",  # AWS time sync
        "169.254.169.253",  # AWS DNS
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server (a PUBLIC address)
        "192.0.0.192",  # Oracle Cloud
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS DNS over IPv6
        "fd00:ec2::123",  # AWS time sync over IPv6
    )
)
METADATA_HOSTNAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.packet.net",
        "localhost",
        "localhost.localdomain",
    }
)

_BLOCKED: list[tuple[str, str]] = [
    # IPv4
    ("0.0.0.0/8", "the unspecified 'this network' range"),
    ("10.0.0.0/8", "a private network"),
    ("100.64.0.0/10", "carrier-grade NAT space (100.64/10)"),
    ("127.0.0.0/8", "the loopback interface"),
    ("169.254.0.0/16", "a link-local address"),
    ("172.16.0.0/12", "a private network"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "a documentation range"),
    ("192.31.196.0/24", "AS112 service"),
    ("192.52.193.0/24", "AMT relay"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "a private network"),
    ("192.175.48.0/24", "AS112 service"),
    ("198.18.0.0/15", "the benchmarking range"),
    ("198.51.100.0/24", "a documentation range"),
    ("203.0.113.0/24", "a documentation range"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved space"),
    ("255.255.255.255/32", "the broadcast address"),
    # IPv6
    ("::/128", "the unspecified address"),
    ("::1/128", "the loopback interface"),
    ("::/96", "a deprecated IPv4-compatible address"),
    ("::ffff:0:0/96", "an IPv4-mapped address"),
    ("::ffff:0:0:0/96", "an IPv4-translated address"),
    ("64:ff9b::/96", "NAT64 (it embeds an IPv4 address)"),
    ("64:ff9b:1::/48", "local-use NAT64 (it embeds an IPv4 address)"),
    ("100::/64", "the discard-only range"),
    ("2001::/32", "Teredo (it embeds an IPv4 address)"),
    ("2001:2::/48", "the benchmarking range"),
    ("2001:10::/28", "ORCHID"),
    ("2001:20::/28", "ORCHIDv2"),
    ("2001:db8::/32", "a documentation range"),
    ("2002::/16", "6to4 (it embeds an IPv4 address)"),
    ("3fff::/20", "a documentation range"),
    ("5f00::/16", "SRv6 segment identifiers"),
    ("fc00::/7", "a unique-local (private) network"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("ff00::/8", "multicast"),
]
BLOCKED_NETWORKS: list[tuple[IPNetwork, str]] = [(ipaddress.ip_network(n), why) for n, why in _BLOCKED]


@dataclass(frozen=True)
class Target:
    """A checked URL: connect to `address`, but speak to `host` (Host header, TLS SNI and certificate)."""

    scheme: str
    host: str
    port: int
    address: str


def refusal(message: str) -> ConnectorError:
    return ConnectorError(message, permanent=True)


def allowed_networks() -> list[IPNetwork]:
    networks = []
    for cidr in getattr(settings, "CONNECTOR_ALLOWED_NETWORKS", []) or []:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError as exc:
            raise refusal(f"CONNECTOR_ALLOWED_NETWORKS has an invalid network {cidr!r}: {exc}") from None
    return networks


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden inside an IPv4-mapped, NAT64, 6to4 or Teredo IPv6 address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    packed = ip.packed
    if ip in ipaddress.ip_network("64:ff9b::/96") or ip in ipaddress.ip_network("::/96"):
        return ipaddress.IPv4Address(packed[-4:])
    if ip in ipaddress.ip_network("64:ff9b:1::/48"):
        return ipaddress.IPv4Address(packed[-4:])
    return None


def why_forbidden(ip: IPAddress, allowed: list[IPNetwork] | None = None) -> str | None:
    """Why the client must not connect to `ip`, or None when it may."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata service"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None and inner in METADATA_ADDRESSES:
            return f"a cloud metadata service (embedded {inner})"
    allowed = allowed_networks() if allowed is None else allowed
    if any(ip.version == net.version and ip in net for net in allowed):
        return None
    for net, why in BLOCKED_NETWORKS:
        if ip.version == net.version and ip in net:
            if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
                return f"{why}, embedding {inner}"
            return why
    if not ip.is_global:
        return "not a public internet address"
    return None


def parse_ip_literal(host: str) -> IPAddress | None:
    """Parse `host` as an IP address, including the legacy IPv4 forms inet_aton accepts.

    `127.1`, `2130706433`, `0x7f.0.0.1`, `0177.0.0.1` and `017700000001` all mean 127.0.0.1 to the C
    resolver and to many HTTP stacks, so the guard must read them the same way.
    """
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    parts = host.split(".")
    if host.endswith("."):
        parts = parts[:-1]
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        try:
            if part.lower().startswith("0x"):
                numbers.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part, 8))
            else:
                if not (part.isascii() and part.isdigit()):
                    return None
                numbers.append(int(part, 10))
        except ValueError:
            return None
    # a.b.c.d / a.b.(16 bits) / a.(24 bits) / (32 bits)
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for i, n in enumerate(head):
        value |= n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def precheck(url: str) -> tuple[str, str, int, IPAddress | None]:
    """Every check that needs no DNS: scheme, host, metadata names and IP literals.

    Returns (scheme, host, port, literal address or None). `resolve_target` does the rest; the client
    calls this first only to fail fast with a clear message, without a second DNS lookup.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise refusal(
            f"The URL {_safe(url)!r} is not valid ({exc}). Check the address in the connection's settings."
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise refusal(
            f"Only http and https URLs may be fetched, not {scheme or 'a URL without a scheme'}: "
            f"check the address in the connection's settings."
        )
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise refusal(
            f"The URL {_safe(url)!r} has no host name. Use a full address such as https://example.com/api."
        )
    port = port or (443 if scheme == "https" else 80)
    if host in METADATA_HOSTNAMES or host.endswith(".localhost"):
        raise refusal(_refused_message(host, host, "a cloud metadata or local host name"))
    literal = parse_ip_literal(host)
    if literal is not None:
        why = why_forbidden(literal)
        if why is not None:
            raise refusal(_refused_message(host, str(literal), why))
    return scheme, host, port, literal


def resolve_target(url: str) -> Target:
    """Check `url` and resolve its host once; raise ConnectorError(permanent=True) if it is refused."""
    scheme, host, port, literal = precheck(url)
    addresses: list[IPAddress] = [literal] if literal is not None else _resolve(host, port)
    allowed = allowed_networks()
    for ip in addresses:
        why = why_forbidden(ip, allowed)
        if why is not None:
            raise refusal(_refused_message(host, str(ip), why))
    return Target(scheme=scheme, host=host, port=port, address=str(addresses[0]))


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        # DNS failures are usually transient; a typo shows up as the same error every run.
        raise ConnectorError(
            f"Could not resolve the host {host!r} ({exc}). Check the address.", permanent=False
        ) from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise ConnectorError(f"The host {host!r} has no address.", permanent=False)
    return addresses


def _refused_message(host: str, address: str, why: str) -> str:
    detail = host if host == address else f"{host} ({address})"
    return (
        f"Refused to connect to {detail}: it is {why}. Connections may only reach public internet hosts. "
        f"If this is an internal tool you trust, a self-hoster can allow its network with "
        f"CONNECTOR_ALLOWED_NETWORKS."
    )


def _safe(url: str) -> str:
    from connectors.http import redact_url

    return redact_url(url)[:200]
