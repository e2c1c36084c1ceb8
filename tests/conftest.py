"""Fixtures shared by every tier: test tiers by folder, and a fresh PostgreSQL database."""

from __future__ import annotations

import contextlib
import getpass
import importlib
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from tests.shared_temp import SharedTempPathFactory, prepared, session_base

TIERS = ("unit", "integration", "e2e")
#: Where pytest's temporary directories are, where tests hand connectors files: the
#: sandbox empties /tmp for connectors and Landlock lets them touch nothing they are not
#: given, so the tests' configuration gives them this (writable by every connector's
#: user: tests/shared_temp.py).
TEST_TEMP = str(Path(tempfile.gettempdir(), f"connectord-tests-of-{getpass.getuser()}"))
PG_ADMIN_DSN = os.environ.get("CONNECTORD_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """This session's temporary directories beneath TEST_TEMP (before pytest reads where)."""
    if config.option.basetemp is None:
        config.option.basetemp = str(session_base(prepared(Path(TEST_TEMP))))


@pytest.fixture(scope="session")
def tmp_path_factory(tmp_path_factory: pytest.TempPathFactory) -> SharedTempPathFactory:
    """pytest's, with every directory it makes usable by every connector's user."""
    return SharedTempPathFactory(tmp_path_factory)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier, taken from its folder (tests/unit, tests/integration, …)."""
    for item in items:
        parts = Path(str(item.path)).parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


def _postgres_required() -> bool:
    return os.environ.get("CONNECTORD_REQUIRE_POSTGRES", "") not in ("", "0", "false")


@pytest.fixture(scope="session")
def pg_admin_dsn() -> str:
    """A DSN with the right to create databases; skips (or fails under CI) without a server."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the dev extra installs it
        reason = "psycopg is not installed (pip install 'connectord[postgres]')"
    else:
        try:
            with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return PG_ADMIN_DSN
        except psycopg.OperationalError as exc:
            reason = f"PostgreSQL is not reachable at {PG_ADMIN_DSN}: {exc}".strip()
    if _postgres_required():
        pytest.fail(f"CONNECTORD_REQUIRE_POSTGRES is set but {reason}")
    pytest.skip(reason)


@pytest.fixture
def pg_database(pg_admin_dsn: str) -> Iterator[str]:
    """A new, empty database for one test, dropped afterwards; yields its URL."""
    import psycopg

    name = f"connectord_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(pg_admin_dsn)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def connector_site(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, Path, dict[str, str]], Path]:
    """Lay a connector module out as an installed distribution in a site directory of its
    own: the module, and a .dist-info whose entry points name the connectors in it."""

    def make(module: str, source: Path, entry_points: dict[str, str]) -> Path:
        site = tmp_path_factory.mktemp(f"{module}-site")
        shutil.copy(source, site / f"{module}.py")
        dist_info = site / f"{module}-1.0.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
        entries = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (dist_info / "entry_points.txt").write_text(f"[connectord.connectors]\n{entries}")
        return site

    return make


@contextlib.contextmanager
def on_sys_path(site: Path) -> Iterator[None]:
    """A supervisor hands its sys.path to the zygote, which then finds what is installed here."""
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(site))


@pytest.fixture(scope="session")
def site_on_path() -> Callable[[Path], contextlib.AbstractContextManager[None]]:
    return on_sys_path


#: What tests allow the egress policy to reach: their own servers on loopback. Tests only:
#: by default the policy refuses loopback (plugins/egress_policy.py).
LOOPBACK_EGRESS = ("127.0.0.0/8", "::1")


@pytest.fixture
def loopback_egress() -> Iterator[tuple[str, ...]]:
    """Connectors run in this process (not in a worker) may reach loopback while the test runs."""
    from connectord.plugins.egress_policy import EgressPolicy, installing

    with installing(EgressPolicy.parse(LOOPBACK_EGRESS)):
        yield LOOPBACK_EGRESS
