"""connectord: a plugin-based connector runtime with sandboxed workers.

This module is the public API for connector authors::

    import connectord

    @connectord.hookimpl
    def verify_credentials(credentials):
        return connectord.verified()

The hooks are documented in :mod:`connectord.plugins.hookspecs`.
"""

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

__all__ = [
    "ConfigError",
    "ConnectorError",
    "ConnectorInfo",
    "CredentialFailure",
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
    "hookimpl",
    "not_verified",
    "verified",
]
