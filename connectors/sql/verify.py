"""``verify_credentials``: open a real connection and say precisely what went wrong."""

from __future__ import annotations

from typing import Any

from connectord.connectors.sql.connect import open_catalog
from connectord.connectors.sql.failures import ConnectFailure
from connectord.plugins.types import VerifyResult, not_verified, verified


def verify(credentials: dict[str, Any]) -> VerifyResult:
    """Verified with what was reached, or not verified with the classified reason."""
    try:
        with open_catalog(credentials) as catalog:
            return verified(catalog.summary())
    except ConnectFailure as failure:
        return not_verified(failure.kind, str(failure), failure.field)
