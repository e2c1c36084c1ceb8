"""Which connector a job may run in. A definition (and an ad-hoc job) is bound to the
connector that owned its job type when it was created; if another connector owns that
code later, nothing of the definition's — params, account — runs there.
"""

from __future__ import annotations

from connectord.plugins.manager import Catalog
from connectord.plugins.types import JobType

#: The error type of a job that did not run because its job type changed hands.
CONNECTOR_CHANGED = "ConnectorChanged"
#: The error type of a job whose account belongs to another component than its connector.
ACCOUNT_MISMATCH = "AccountMismatch"


def owner(catalog: Catalog, code: str) -> str | None:
    """The connector that offers job type ``code`` now, if one does."""
    found = catalog.job_type(code)
    return found[0] if found is not None else None


def bound_job_type(catalog: Catalog, code: str, bound: str | None) -> JobType | None:
    """Job type ``code`` as the connector ``bound`` describes it; None when that connector
    does not own it now. ``bound`` None (a row stored before connectors were recorded)
    takes the current owner."""
    found = catalog.job_type(code)
    if found is None or (bound is not None and found[0] != bound):
        return None
    return found[1]


def owner_changed(catalog: Catalog, code: str, bound: str | None, subject: str) -> str | None:
    """Why a ``subject`` ("definition", "job") of job type ``code`` bound to ``bound``
    cannot run now: its type belongs to another connector. None when it can (or when no
    connector offers the type at all: that is another error)."""
    now = owner(catalog, code)
    if bound is None or now is None or now == bound:
        return None
    gone = "" if bound in catalog.connectors else f" (connector '{bound}' is not loaded)"
    again = "recreate the definition" if subject == "definition" else "run the job type again"
    return (
        f"job type {code} now belongs to connector '{now}', not '{bound}' which this {subject} "
        f"was created with{gone}; {again} to use it"
    )


def account_mismatch(account_id: str, component: str, connector: str, code: str) -> str | None:
    """Why account ``account_id`` of ``component`` may not be used by job type ``code``
    running in ``connector``; None when it may."""
    if component == connector:
        return None
    return (
        f"account '{account_id}' belongs to component '{component}'; job type '{code}' runs "
        f"in '{connector}', which never gets another component's credentials"
    )
