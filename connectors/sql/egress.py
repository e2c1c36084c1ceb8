"""PostgreSQL connections under the egress policy: each host of the URL is resolved once,
checked, and libpq is given the address checked (``hostaddr``), so it connects there and
nowhere a second DNS answer points. A local socket (no host, or a path) reaches this
machine: it is judged as 127.0.0.1. SQLite files are not network and are not judged."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping

from connectord.connectors.sql.failures import ConnectFailure
from connectord.plugins import egress

DEFAULT_PORT = 5432
_LOCAL = ipaddress.IPv4Address("127.0.0.1")


def checked_params(params: Mapping[str, str]) -> dict[str, str]:
    """libpq ``params`` with ``hostaddr`` set to an allowed address of each host;
    ConnectFailure (``config``: refused by the policy, ``network``: unresolvable)."""
    hosts = params.get("host", "").split(",")
    given = params.get("hostaddr", "").split(",") if params.get("hostaddr") else []
    ports = params.get("port", "").split(",")
    addresses = []
    for i, host in enumerate(hosts):
        port = _port(ports[i] if i < len(ports) else ports[-1])
        addresses.append(_checked(host.strip(), given[i].strip() if i < len(given) else "", port))
    if all(address is None for address in addresses):
        return dict(params)
    # libpq wants one hostaddr per host; a local socket keeps an empty one.
    return {**params, "hostaddr": ",".join(address or "" for address in addresses)}


def _checked(host: str, hostaddr: str, port: int) -> str | None:
    policy = egress.installed()
    try:
        if hostaddr:
            address = egress.as_address(hostaddr)
            if address is None:
                raise ConnectFailure("config", f"url: hostaddr {hostaddr!r} is not an IP address", "url")
            policy.check(address, port, host or None)
            return hostaddr
        if not host or host.startswith(("/", "@")):
            refused = policy.refusal(_LOCAL, port)
            if refused is not None:
                message = f"url names a local socket, which reaches this machine as 127.0.0.1 does: {refused}"
                raise ConnectFailure("config", message, "url")
            return None
        return egress.check(host, port, policy)[0]
    except egress.EgressRefused as exc:
        raise ConnectFailure("config", f"url: {exc}", "url") from None
    except socket.gaierror:
        raise ConnectFailure("network", f'host "{host}" could not be resolved', "url") from None


def _port(text: str) -> int:
    text = text.strip()
    return int(text) if text.isdigit() else DEFAULT_PORT
