"""Where the server and connectors may connect: the egress policy, as pure logic.

By default no connection goes to an address of this machine or of an internal network:
loopback, link-local (cloud metadata at 169.254.169.254 included), private (RFC 1918 and
100.64.0.0/10), unique-local, multicast, unspecified or otherwise reserved addresses are
refused. IPv6 forms that carry an IPv4 address (``::ffff:127.0.0.1``) are judged as that
address. Operators allow what they mean with entries of ``[egress] allow``: a network
(``10.1.0.0/16``, ``::1``), an address or network with a port (``127.0.0.1:5432``,
``[::1]:8080``) or a host name with or without a port (``db.internal:5432``).

The check is on the address a name resolved to; resolving and connecting are in
``egress.py``, which connects to the very address checked here.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from connectord.plugins.errors import ConnectorError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The classes refused by default, in the order they are tried; "reserved" is whatever
#: else is not globally routable (documentation, benchmarking, 240.0.0.0/4, ...).
_CLASSES: tuple[tuple[str, tuple[Network, ...]], ...] = tuple(
    (name, tuple(ipaddress.ip_network(n) for n in networks))
    for name, networks in (
        ("unspecified", ("0.0.0.0/8", "::/128")),
        ("loopback", ("127.0.0.0/8", "::1/128")),
        ("link-local", ("169.254.0.0/16", "fe80::/10")),
        ("private", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")),
        ("unique-local", ("fc00::/7",)),
        ("multicast", ("224.0.0.0/4", "ff00::/8")),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")


class EgressRefused(ConnectorError):
    """A connection the egress policy does not allow; the message names the destination
    and its class, and how an operator would allow it."""

    def __init__(self, address: Address, port: int, address_class: str, host: str | None = None) -> None:
        self.address, self.port, self.address_class, self.host = address, port, address_class, host
        kind = f"{'an' if address_class == 'unspecified' else 'a'} {address_class} address"
        if host is not None and as_address(host) is None:
            message = f"{host} resolves to {address}, {kind}; add {address} to [egress] allow to permit it"
        else:
            message = f"{address} is {kind}; add it to [egress] allow to permit it"
        super().__init__(message)


def as_address(text: str) -> Address | None:
    """``text`` as an IP address (brackets and an IPv6 zone allowed), or None."""
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def judged(address: Address) -> Address:
    """The address a connection to ``address`` reaches: an IPv6 form that embeds an IPv4
    address (mapped, NAT64, the deprecated compatible form) is that IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64 or (int(address) >> 32 == 0 and int(address) > 1):
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_class(address: Address) -> str | None:
    """The class that makes ``address`` refused by default, or None for a public one."""
    address = judged(address)
    for name, networks in _CLASSES:
        if any(address in network for network in networks):
            return name
    if not address.is_global or address.is_reserved:
        return "reserved"
    return None


@dataclass(frozen=True)
class Rule:
    """One ``[egress] allow`` entry: a network or a host name, on any port or on one."""

    network: Network | None = None
    name: str | None = None
    port: int | None = None

    def permits(self, address: Address, port: int, host: str | None) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return any(a in self.network for a in {address, judged(address)})
        return host is not None and _host_key(host) == self.name


def parse_rule(entry: str) -> Rule:
    """An allow-list entry; ValueError saying what is wrong with it."""
    text = entry.strip()
    where, port = text, None
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{entry!r} is not [IPv6]:port")
        where, port = inside, _port(rest[1:], entry) if rest else None
    elif text.count(":") == 1:
        where, _, port_text = text.partition(":")
        port = _port(port_text, entry)
    try:
        return Rule(network=ipaddress.ip_network(where, strict=True), port=port)
    except ValueError as exc:
        if any(c in where for c in "/:") or _only_digits_and_dots(where):
            raise ValueError(f"{entry!r} is not a network: {exc}") from None
    name = _host_key(where)
    if not _HOST_NAME.fullmatch(name):
        raise ValueError(f"{entry!r} is neither a network (CIDR) nor host[:port]")
    return Rule(name=name, port=port)


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{entry!r} has no valid port (1-65535)")
    return int(text)


def _only_digits_and_dots(text: str) -> bool:
    return bool(text) and all(c.isdigit() or c == "." for c in text)


def _host_key(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


@dataclass(frozen=True)
class EgressPolicy:
    """The default refusals, less what ``rules`` allow."""

    rules: tuple[Rule, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> EgressPolicy:
        """A policy allowing ``entries``; ValueError naming the first bad one."""
        return cls(tuple(parse_rule(entry) for entry in entries))

    def refusal(self, address: Address, port: int, host: str | None = None) -> EgressRefused | None:
        """Why a connection to ``address``:``port`` (for the name ``host``) is refused, or None."""
        kind = address_class(address)
        if kind is None or any(rule.permits(address, port, host) for rule in self.rules):
            return None
        return EgressRefused(judged(address), port, kind, host)

    def check(self, address: Address, port: int, host: str | None = None) -> None:
        """Raise EgressRefused unless a connection to ``address``:``port`` is allowed."""
        refused = self.refusal(address, port, host)
        if refused is not None:
            raise refused

    def admit(self, host: str, port: int, addresses: Iterable[str]) -> list[str]:
        """Of the addresses ``host`` resolved to, those a connection may go to (in order);
        EgressRefused for the first when none may."""
        allowed: list[str] = []
        first: EgressRefused | None = None
        for text in addresses:
            address = as_address(text)
            if address is None:
                raise ValueError(f"not an IP address: {text!r}")
            refused = self.refusal(address, port, host)
            if refused is None:
                allowed.append(text)
            elif first is None:
                first = refused
        if not allowed and first is not None:
            raise first
        return allowed


_installed = EgressPolicy()


def install(policy: EgressPolicy) -> None:
    """Make ``policy`` the one connectors in this process follow (a worker installs the
    server's before its first call)."""
    global _installed
    _installed = policy


def installed() -> EgressPolicy:
    """The policy connectors in this process follow: the refusals alone until one is installed."""
    return _installed


@contextlib.contextmanager
def installing(policy: EgressPolicy) -> Iterator[None]:
    """``policy`` installed for the duration of the block (tests, tools)."""
    before = _installed
    install(policy)
    try:
        yield
    finally:
        install(before)
