"""Connecting under the egress policy (``egress_policy.py``): resolve a name once, check
every address it resolved to, and connect to an address checked, never to a second
answer of the DNS (no rebinding). Public to connector authors as ``connectord.egress``::

    addresses = connectord.egress.check(host, port)   # connect to one of these
    async with connectord.http_session() as session:  # every connection and redirect checked
        ...
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from connectord.plugins.egress_policy import (
    EgressPolicy,
    EgressRefused,
    address_class,
    as_address,
    installed,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "EgressPolicy",
    "EgressRefused",
    "address_class",
    "as_address",
    "check",
    "http_session",
    "installed",
]


def check(host: str, port: int, policy: EgressPolicy | None = None) -> list[str]:
    """The addresses of ``host`` a connection to ``port`` may go to, resolved once (an IP
    address is taken as it is); connect to one of them, not to ``host``. Raises
    EgressRefused when the policy (by default the one installed) allows none of them, and
    OSError (``socket.gaierror``) when the name does not resolve. Blocking: in a coroutine,
    run it in a thread, or use :func:`http_session`."""
    host = host.strip("[]")
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    return (policy or installed()).admit(host, port, addresses)


def http_session(policy: EgressPolicy | None = None, **options: Any) -> aiohttp.ClientSession:
    """An ``aiohttp.ClientSession`` whose every connection, redirects included, follows the
    egress policy (by default the one installed when it connects): refused ones raise
    EgressRefused. ``options`` are ClientSession's own (``headers``, ``timeout``, ...);
    ``connector_options`` go to its TCPConnector."""
    from connectord.plugins.egress_http import checked_session

    return checked_session(policy, **options)
