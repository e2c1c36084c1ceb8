"""The settings a node runs with: the environment's and the flags' (runtime/config.py)
completed by the configuration file (runtime/config_file.py), and the sandbox policy."""

from __future__ import annotations

from pathlib import Path

from connectord.runtime.config import Settings
from connectord.runtime.config_file import load_config_file
from connectord.sandbox.policy import SandboxPolicy


def configured(settings: Settings) -> tuple[Settings, SandboxPolicy]:
    """The settings with the configuration file's ``[egress] allow`` added to the
    environment's, its log format, access log, ``[store] sync`` and ``[metrics]`` where neither a flag nor
    the environment set them, and the sandbox policy (see :func:`sandbox_policy`)."""
    file = load_config_file(settings.config_file, settings.data_dir)
    egress = (*file.egress.allow, *(e for e in settings.egress_allow if e not in file.egress.allow))
    settings = settings.with_overrides(
        egress_allow=egress,
        log_format=settings.log_format or file.log_format,
        metrics_token=settings.metrics_token or file.metrics.token,
        metrics_tenant_labels=settings.metrics_tenant_labels or file.metrics.tenant_labels,
        access_log=settings.access_log and file.access_log,
        store_sync=settings.store_sync or file.store.sync,
    )
    return settings, sandbox_policy(settings, file.sandbox)


def sandbox_policy(settings: Settings, configured: SandboxPolicy) -> SandboxPolicy:
    """The configured policy, with the server's own files hidden from every worker: the
    data directory (store, secret key), a store file kept elsewhere, and the configuration
    file (its ``[metrics] token``; Landlock, where it is off, would not keep it)."""
    hidden = [str(settings.data_dir.expanduser().absolute())]
    if settings.config_file is not None:
        hidden.append(str(settings.config_file.absolute()))
    url = settings.store_url or ""
    if url.startswith("sqlite:///"):
        store = str(Path(url.removeprefix("sqlite:///")).expanduser().absolute())
        hidden += [store, f"{store}-wal", f"{store}-shm"]
    return configured.hiding(hidden)
