"""connectord: a plugin-based connector runtime with sandboxed workers.

This module is the public API for connector authors::

    import connectord

    @connectord.hookimpl
    def verify_credentials(credentials):
        return connectord.verified()

The hooks are documented in :mod:`connectord.plugins.hookspecs`. A connector that opens
connections of its own follows the server's egress policy with ``connectord.http_session()``
(aiohttp) or ``connectord.egress.check(host, port)`` (the addresses it may connect to).
"""

from typing import Any

from connectord.plugins.errors import ConfigError, ConnectorError, UpstreamError
from connectord.plugins.markers import hookimpl
from connectord.plugins.types import (
    ConnectorInfo,
    CredentialFailure,
    JobResult,
    JobType,
    MetaModel,
    Operation,
    Option,
    SelectQuery,
    SelectResult,
    VerifyResult,
    not_verified,
    verified,
)

__version__ = "0.1.0"

#: Imported on first use: a connector that opens no connection keeps them out of its zygote,
#: whose every page each fork copies.
_EGRESS_NAMES = ("EgressRefused", "http_session")


def __getattr__(name: str) -> Any:
    if name == "egress" or name in _EGRESS_NAMES:
        from connectord.plugins import egress

        return egress if name == "egress" else getattr(egress, name)
    raise AttributeError(f"module 'connectord' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "ConnectorError",
    "ConnectorInfo",
    "CredentialFailure",
    "EgressRefused",
    "JobResult",
    "JobType",
    "MetaModel",
    "Operation",
    "Option",
    "SelectQuery",
    "SelectResult",
    "UpstreamError",
    "VerifyResult",
    "__version__",
    "egress",
    "hookimpl",
    "http_session",
    "not_verified",
    "verified",
]
