"""Helpers for driving the installed ``connectord`` command as a user would."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from .sandboxing import sandbox_config

CONNECTORD = shutil.which("connectord", path=str(Path(sys.executable).parent)) or "connectord"


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a user with their own data directory (no server secrets)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTORD_")}
    env["CONNECTORD_DATA_DIR"] = str(tmp_path / "data")
    return env | sandbox_config()


@pytest.fixture
def run_cli(cli_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, stdin: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CONNECTORD, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=cli_env,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def install_connector(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Build a one-module connector wheel and ``pip install`` it into its own directory (or
    ``site``, replacing what is there: an upgrade): the way a connector author ships one,
    without touching the test environment."""
    root = tmp_path_factory.mktemp("connector-packages")

    def install(name: str, source: str, site: Path | None = None) -> Path:
        site = site or root / f"site-{name}"
        wheel = build_wheel(root / "dist", name, textwrap.dedent(source))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-index",
                "--disable-pip-version-check",
                "--upgrade",
                "--target",
                str(site),
                str(wheel),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return site

    return install


def add_to_pythonpath(env: dict[str, str], *sites: Path) -> None:
    env["PYTHONPATH"] = os.pathsep.join([*map(str, sites), *filter(None, [env.get("PYTHONPATH")])])


def build_wheel(
    dist: Path, name: str, source: str, extra: dict[str, str] | None = None, connector: bool = True
) -> Path:
    """A wheel of connector ``name`` (module ``{name}_connector``; without its entry point
    unless ``connector``), with ``extra`` files beside the module (path in the wheel: text)."""
    module = f"{name}_connector"
    info = f"{module}-1.0.0.dist-info"
    files = {
        **(extra or {}),
        f"{module}.py": source,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0.0\n",
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: connectord-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    if connector:
        files[f"{info}/entry_points.txt"] = f"[connectord.connectors]\n{name} = {module}\n"
    record = [f"{path},sha256={_digest(text)},{len(text.encode())}" for path, text in files.items()]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    dist.mkdir(exist_ok=True)
    wheel = dist / f"{module}-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def _digest(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


# Fixtures of the cluster tests: a PostgreSQL server of a test's own, and connectord nodes.
from .cluster import cluster, echo_site  # noqa: E402, F401
from .cluster_api import tally_site  # noqa: E402, F401
from .pg_instance import pg_instance, pg_template  # noqa: E402, F401
