"""The optional configuration file (TOML): how the sandbox runs each connector.

Looked for at ``--config`` / ``CONNECTORD_CONFIG``, else ``connectord.toml`` in the data
directory; without one the defaults hold. A connector's table is merged over
``[sandbox.default]``, so it only names what differs::

    [sandbox]
    concurrency = 4

    [sandbox.default.limits]
    memory_bytes = 536870912

    [sandbox.connectors.sql]
    isolation = "pooled"
    timeouts = { get_meta_model = 10 }

    [egress]
    allow = ["10.1.0.0/16", "127.0.0.1:5432"]

    log_format = "json"      # top-level keys go before the first table
    [metrics]
    token = "a-long-random-token"

    [store]
    sync = "accepted"        # or "all", "none" (SQLite; see the README's Operations)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import msgspec

from connectord.plugins.egress_policy import parse_rule
from connectord.runtime.config import ConfigurationError, StoreSync, parse_token
from connectord.sandbox.policy import SandboxPolicy

FILE_NAME = "connectord.toml"


class Egress(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Destinations the egress policy would refuse that the server and its connectors may
    reach all the same (see plugins/egress_policy.py for the forms)."""

    allow: list[str] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        for entry in self.allow:
            parse_rule(entry)  # its ValueError becomes a ValidationError naming `egress.allow`


class MetricsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``/metrics``: open without a token; with one, it asks for ``Authorization: Bearer``."""

    token: str | None = None
    #: Label executions and job runs by tenant id (cardinality grows with the tenants).
    tenant_labels: bool = False

    def __post_init__(self) -> None:
        try:
            parse_token(self.token, "metrics.token")
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from None


class StoreConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The store: which SQLite commits are synced to the disk before they return."""

    sync: StoreSync = "accepted"


class ConfigFile(msgspec.Struct, forbid_unknown_fields=True):
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    sandbox: SandboxPolicy = msgspec.field(default_factory=SandboxPolicy)
    egress: Egress = msgspec.field(default_factory=Egress)
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    log_format: Literal["text", "json"] = "text"
    access_log: bool = True


def load_config_file(path: Path | None, data_dir: Path) -> ConfigFile:
    """Read ``path`` (which must exist) or, when it is None, the data directory's file if any."""
    if path is None:
        path = data_dir / FILE_NAME
        if not path.exists():
            return ConfigFile()
    try:
        raw = msgspec.toml.decode(path.read_bytes())
    except OSError as exc:
        raise ConfigurationError(f"config file {path}: {exc.strerror}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"config file {path}: not valid TOML: {exc}") from None
    return parse_config(raw, str(path))


def parse_config(raw: dict[str, Any], origin: str) -> ConfigFile:
    sandbox = raw.get("sandbox")
    if isinstance(sandbox, dict) and isinstance(sandbox.get("connectors"), dict):
        default = sandbox.get("default", {})
        sandbox["connectors"] = {
            name: _merged(default, table) for name, table in sandbox["connectors"].items()
        }
    try:
        return msgspec.convert(raw, ConfigFile)
    except msgspec.ValidationError as exc:
        raise ConfigurationError(f"config file {origin}: {exc}") from None


def _merged(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        return {k: _merged(base.get(k), v) for k, v in override.items()} | {
            k: v for k, v in base.items() if k not in override
        }
    return override
