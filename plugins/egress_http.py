"""The egress policy for aiohttp: a connector that checks each address a host resolved to
before connecting to it. Imported only by sessions that need it, so a connector without
HTTP keeps aiohttp out of its workers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiohttp

from connectord.plugins.egress_policy import EgressPolicy, installed

if TYPE_CHECKING:
    from aiohttp.abc import ResolveResult
    from aiohttp.tracing import Trace


class CheckedConnector(aiohttp.TCPConnector):
    """A TCPConnector that connects only to resolved addresses the policy allows.

    aiohttp connects to the addresses ``_resolve_host`` returns (IP literals included,
    which skip the resolver), so filtering them here checks exactly what is connected to,
    on every request and every redirect, whatever the DNS answers next time. The method is
    aiohttp's own (private, stable since 3.x); a custom resolver alone would miss IP literals."""

    def __init__(self, policy: EgressPolicy | None = None, **options: Any) -> None:
        super().__init__(**options)
        self._egress = policy

    async def _resolve_host(
        self, host: str, port: int, traces: Sequence[Trace] | None = None
    ) -> list[ResolveResult]:
        resolved = await super()._resolve_host(host, port, traces=traces)
        policy = self._egress or installed()
        allowed = set(policy.admit(host, port, [entry["host"] for entry in resolved]))
        return [entry for entry in resolved if entry["host"] in allowed]


def checked_session(policy: EgressPolicy | None = None, **options: Any) -> aiohttp.ClientSession:
    """See :func:`connectord.plugins.egress.http_session`."""
    if "connector" in options:
        raise TypeError("http_session makes its own connector; pass connector_options instead")
    connector = CheckedConnector(policy, **options.pop("connector_options", {}))
    return aiohttp.ClientSession(connector=connector, **options)
