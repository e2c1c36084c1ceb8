"""Where connectord keeps what it accepts. Chosen by URL; SQLite in the data directory is the
embedded default."""

from __future__ import annotations

from pathlib import Path

from connectord.runtime.config import ConfigurationError, Settings
from connectord.runtime.store.sqlite import SQLiteStore
from connectord.runtime.store.store import Store

SQLITE_FILE = "connectord.sqlite3"
__all__ = ["SQLITE_FILE", "Store", "open_store", "prepare_data_dir"]


def open_store(settings: Settings) -> Store:
    """Open (and create or migrate) the store the settings name."""
    url, sync = settings.store_url, settings.store_sync or "accepted"
    if url is None:
        return SQLiteStore(prepare_data_dir(settings.data_dir) / SQLITE_FILE, sync)
    if url.startswith("sqlite:///"):
        return SQLiteStore(Path(url.removeprefix("sqlite:///")).expanduser(), sync)
    scheme = url.split(":", 1)[0]
    if scheme in ("postgresql", "postgres"):
        try:
            from connectord.runtime.store.postgres import PostgresStore
        except ImportError as exc:
            raise ConfigurationError(
                f"store URL: the PostgreSQL store needs psycopg ({exc}): pip install 'connectord[postgres]'"
            ) from None
        return PostgresStore(url)
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
