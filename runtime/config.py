"""Settings of a connectord process, from defaults, environment and command-line flags.

Precedence: a flag beats an environment variable beats the default. Reading the
environment is done once, here, and the result passed down, so the rest of the code
never looks at ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

from connectord.plugins.egress_policy import EgressPolicy
from connectord.plugins.manager import Selection
from connectord.plugins.server_errors import Invalid

ENV_PREFIX = "CONNECTORD_"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
#: Which commits of the SQLite store reach the disk before they return: what a client was
#: told is accepted (``accepted``, the default), every commit (``all``), or none, left to
#: the OS (``none``: a killed process loses nothing, a power loss the latest commits).
StoreSync = Literal["accepted", "all", "none"]
STORE_SYNC_MODES: tuple[StoreSync, ...] = ("accepted", "all", "none")


class ConfigurationError(Invalid, ValueError):
    """A setting has an unusable value; the message names the setting."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    #: ``None`` means the embedded SQLite file in ``data_dir``.
    store_url: str | None = None
    #: ``CONNECTORD_STORE_SYNC`` / ``[store] sync``; None: the file's, else ``accepted``.
    store_sync: StoreSync | None = None
    connectors: Selection = field(default_factory=Selection)
    log_level: str = "INFO"
    #: The TOML configuration file; ``None`` means ``connectord.toml`` in ``data_dir`` if present.
    config_file: Path | None = None
    #: Fernet keys (comma-separated, first current) for secrets at rest; ``None`` means a
    #: key file in ``data_dir``, created on first start.
    secret_key: str | None = field(default=None, repr=False)
    #: Longest ``?wait=`` a poll may ask for, in seconds.
    max_poll_wait: float = 30.0
    #: Largest request body accepted (bigger → 413).
    max_body_bytes: int = 1024 * 1024
    #: How long a finished execution's result can be fetched, in seconds.
    result_retention: float = 3600.0
    #: How long a finished job run without a definition is kept, in seconds (a definition's
    #: runs follow its own historyMaxCount / historyMaxAgeDays).
    job_retention: float = 30 * 86400.0
    #: The base URL clients reach this service at (for Location headers behind a proxy).
    public_url: str | None = None
    #: This process's name among the nodes sharing a store; ``None``: host, pid and a suffix.
    node_id: str | None = None
    #: Work a node claimed is taken back by the others this long after its last renewal.
    lease_seconds: float = 30.0
    #: How long a verified API key is remembered (seconds; 0: looked up every request). A
    #: key revoked through another process on a SQLite store still works this long.
    key_cache_seconds: float = 5.0
    #: Egress allow-list entries (``[egress] allow`` of the file, then CONNECTORD_EGRESS_ALLOW):
    #: destinations of the server and its connectors that the egress policy would refuse.
    egress_allow: tuple[str, ...] = ()
    #: A bearer token ``/metrics`` asks for (``[metrics] token``, CONNECTORD_METRICS_TOKEN);
    #: None: open.
    metrics_token: str | None = field(default=None, repr=False)
    #: Label executions and job runs by tenant id in ``/metrics`` (``[metrics] tenant_labels``).
    metrics_tenant_labels: bool = False
    #: ``text`` or ``json`` (``--log-format``, CONNECTORD_LOG_FORMAT, ``log_format``); None: the
    #: file's, else text.
    log_format: str | None = None
    #: One line per HTTP request (``access_log`` in the file, CONNECTORD_ACCESS_LOG).
    access_log: bool = True

    def with_overrides(self, **overrides: Any) -> Settings:
        """These settings with the given ones replaced; ``None`` values are ignored."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".local/share")
    return Path(base) / "connectord"


def settings_from_env(env: Mapping[str, str] = os.environ) -> Settings:
    def get(name: str) -> str | None:
        value = env.get(ENV_PREFIX + name, "").strip()
        return value or None

    data_dir = get("DATA_DIR")
    allow = get("CONNECTORS_ALLOW")
    config_file = get("CONFIG")
    return Settings(
        data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(env),
        host=get("HOST") or DEFAULT_HOST,
        port=parse_port(get("PORT"), ENV_PREFIX + "PORT") if get("PORT") else DEFAULT_PORT,
        store_url=get("STORE_URL"),
        store_sync=parse_store_sync(get("STORE_SYNC"), ENV_PREFIX + "STORE_SYNC"),
        connectors=Selection(
            allow=parse_id_list(allow) if allow is not None else None,
            block=parse_id_list(get("CONNECTORS_BLOCK") or ""),
            paths=parse_connector_path(get("CONNECTOR_PATH") or "", ENV_PREFIX + "CONNECTOR_PATH"),
        ),
        log_level=parse_log_level(get("LOG_LEVEL") or "INFO", ENV_PREFIX + "LOG_LEVEL"),
        config_file=Path(config_file).expanduser() if config_file else None,
        secret_key=get("SECRET_KEY"),
        result_retention=parse_seconds(get("RESULT_RETENTION"), ENV_PREFIX + "RESULT_RETENTION", 3600.0),
        job_retention=parse_seconds(get("JOB_RETENTION"), ENV_PREFIX + "JOB_RETENTION", 30 * 86400.0),
        public_url=parse_public_url(get("PUBLIC_URL"), ENV_PREFIX + "PUBLIC_URL"),
        max_body_bytes=parse_size(get("MAX_BODY_BYTES"), ENV_PREFIX + "MAX_BODY_BYTES", 1024 * 1024),
        node_id=get("NODE_ID"),
        lease_seconds=parse_lease(get("LEASE_SECONDS"), ENV_PREFIX + "LEASE_SECONDS"),
        key_cache_seconds=parse_seconds(get("KEY_CACHE_SECONDS"), ENV_PREFIX + "KEY_CACHE_SECONDS", 5.0),
        egress_allow=parse_egress_allow(get("EGRESS_ALLOW") or "", ENV_PREFIX + "EGRESS_ALLOW"),
        metrics_token=parse_token(get("METRICS_TOKEN"), ENV_PREFIX + "METRICS_TOKEN"),
        log_format=parse_log_format(get("LOG_FORMAT"), ENV_PREFIX + "LOG_FORMAT"),
        access_log=parse_flag(get("ACCESS_LOG"), ENV_PREFIX + "ACCESS_LOG", True),
    )


def parse_connector_path(value: str, name: str) -> tuple[str, ...]:
    """Directories (``os.pathsep`` between them) connectors are installed in; each must exist."""
    paths = []
    for raw in filter(None, value.split(os.pathsep)):
        path = os.path.abspath(os.path.expanduser(raw))
        if not os.path.isdir(path):
            raise ConfigurationError(f"{name}: {raw} is not a directory")
        paths.append(path)
    return tuple(paths)


def parse_port(value: str | None, name: str) -> int:
    try:
        port = int(value or "")
    except ValueError:
        raise ConfigurationError(f"{name} must be a port number, got {value!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigurationError(f"{name} must be between 0 and 65535, got {port}")
    return port


def parse_seconds(value: str | None, name: str, default: float) -> float:
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, got {value!r}") from None
    if not 0 < seconds <= 365 * 24 * 3600:
        raise ConfigurationError(f"{name} must be more than 0 and at most a year, got {value}")
    return seconds


def parse_lease(value: str | None, name: str) -> float:
    seconds = parse_seconds(value, name, 30.0)
    if not 1 <= seconds <= 3600:
        raise ConfigurationError(f"{name} must be between 1 and 3600 seconds, got {value}")
    return seconds


def parse_public_url(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    scheme, _, rest = value.partition("://")
    if scheme not in ("http", "https") or not rest or "?" in rest or "#" in rest:
        raise ConfigurationError(f"{name} must be an http(s) URL without query, got {value!r}")
    return value


def parse_size(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        size = int(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of bytes, got {value!r}") from None
    if not 1024 <= size <= 1024**3:
        raise ConfigurationError(f"{name} must be between 1024 and 1073741824, got {size}")
    return size


def parse_egress_allow(value: str, name: str) -> tuple[str, ...]:
    """Comma-separated egress allow-list entries, each checked."""
    entries = tuple(part.strip() for part in value.split(",") if part.strip())
    check_egress_allow(entries, name)
    return entries


def check_egress_allow(entries: tuple[str, ...], name: str) -> None:
    try:
        EgressPolicy.parse(entries)
    except ValueError as exc:
        raise ConfigurationError(f"{name}: {exc}") from None


def parse_id_list(value: str) -> frozenset[str]:
    """``"sql, shop"`` → ``{"sql", "shop"}``."""
    return frozenset(part.strip() for part in value.split(",") if part.strip())


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def parse_log_level(value: str, name: str) -> str:
    level = value.upper()
    if level not in LOG_LEVELS:
        raise ConfigurationError(f"{name} must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return level


LOG_FORMATS = ("text", "json")


def parse_log_format(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    if value.lower() not in LOG_FORMATS:
        raise ConfigurationError(f"{name} must be one of {', '.join(LOG_FORMATS)}, got {value!r}")
    return value.lower()


def parse_store_sync(value: str | None, name: str) -> StoreSync | None:
    if value is None:
        return None
    if value.lower() not in STORE_SYNC_MODES:
        raise ConfigurationError(f"{name} must be one of {', '.join(STORE_SYNC_MODES)}, got {value!r}")
    return cast(StoreSync, value.lower())


def parse_flag(value: str | None, name: str, default: bool) -> bool:
    if value is None:
        return default
    if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigurationError(f"{name} must be true or false, got {value!r}")
    return value.lower() in ("true", "1", "yes")


def parse_token(value: str | None, name: str) -> str | None:
    """A bearer token: at least 16 visible ASCII characters (a guessable one protects nothing)."""
    if value is None:
        return None
    if len(value) < 16 or not all("\x21" <= c <= "\x7e" for c in value):
        raise ConfigurationError(f"{name} must be at least 16 visible ASCII characters")
    return value
