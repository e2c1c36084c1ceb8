"""Where connectord keeps what it accepts. Chosen by URL; SQLite in the data directory is the
embedded default."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from connectord.runtime.config import ConfigurationError, Settings
from connectord.runtime.store.sqlite import SQLiteStore

SQLITE_FILE = "connectord.sqlite3"


class Store(Protocol):
    url: str

    def ping(self) -> None:
        """Raise if the store cannot be used right now."""

    def close(self) -> None: ...


def open_store(settings: Settings) -> Store:
    """Open (and create or migrate) the store the settings name."""
    url = settings.store_url
    if url is None:
        return SQLiteStore(prepare_data_dir(settings.data_dir) / SQLITE_FILE)
    if url.startswith("sqlite:///"):
        return SQLiteStore(Path(url.removeprefix("sqlite:///")).expanduser())
    scheme = url.split(":", 1)[0]
    if scheme in ("postgresql", "postgres"):
        raise ConfigurationError("store URL: the PostgreSQL store is not available in this version")
    raise ConfigurationError(
        f"store URL: unsupported scheme '{scheme}' (use sqlite:///PATH, or leave it unset)"
    )


def prepare_data_dir(path: Path) -> Path:
    """Create the data directory, readable by its owner only (it will hold keys)."""
    if path.exists() and not path.is_dir():
        raise ConfigurationError(f"data directory {path} is not a directory")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"data directory {path}: {exc.strerror}") from None
    return path
