"""Connectors installed, upgraded or removed while the server runs, taken in without a restart
(``SIGHUP`` to ``connectord serve``, or ``POST /v1/components/_reload``)."""

from __future__ import annotations

import logging
from typing import Any

from connectord.runtime.jobs.service import Jobs
from connectord.runtime.store.records import StoreUnavailableError
from connectord.sandbox.supervisor import Reloaded

log = logging.getLogger(__name__)


async def reload_connectors(supervisor: Any, jobs: Jobs) -> Reloaded:
    """Describe the installed connectors again (``Supervisor.reload``), bind definitions stored
    before their job type was installed to its connector, and say which connector ids were
    added, removed and changed (the catalog tells the load failures now)."""
    reloaded: Reloaded = await supervisor.reload()
    try:
        await jobs.bind_job_types()
    except StoreUnavailableError as exc:  # bound at the next reload or start
        log.warning("cannot bind job definitions to their connectors yet: %s", exc)
    catalog = supervisor.catalog
    log.info(
        "connectors reloaded: %d loaded; added %s, removed %s, changed %s; %d not loaded",
        len(catalog.connectors),
        ", ".join(reloaded.added) or "none",
        ", ".join(reloaded.removed) or "none",
        ", ".join(reloaded.changed) or "none",
        len(catalog.errors),
    )
    for error in catalog.errors:
        log.warning("connector '%s' not loaded (%s): %s", error.name, error.origin, error.reason)
    return reloaded
