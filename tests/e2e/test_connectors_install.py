"""``connectord connectors install``: wheels only, into a directory of their own outside the
server's environment, where the server then finds the connector (and runs none of its code
outside the sandbox)."""

from __future__ import annotations

import io
import json
import sys
import sysconfig
import tarfile
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from connectord.cli.connector_install import path_advice, spec_problem, target_problem

from .conftest import build_wheel

Run = Callable[..., CompletedProcess[str]]

CONNECTOR = """
import connectord

@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(id="wheelie", title="Wheelie", version="1.0.0")

@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified()
"""

#: Code that writes ``marker`` wherever it runs: in a ``.pth`` (at an interpreter's start),
#: in a ``setup.py`` (when pip builds).
MARKING = "import os; open({marker!r}, 'w').close()"


def _sdist(dist: Path, name: str, marker: Path) -> Path:
    """A source archive whose build writes ``marker``."""
    dist.mkdir(exist_ok=True)
    archive = dist / f"{name}-1.0.0.tar.gz"
    setup = f"from setuptools import setup\nsetup(name={name!r})\n"
    files = {
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0.0\n",
        "setup.py": f"{MARKING.format(marker=str(marker))}\n{setup}",
    }
    with tarfile.open(archive, "w:gz") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-1.0.0/{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


def test_a_wheel_goes_into_its_directory_and_the_server_finds_it_there(
    run_cli: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    marker = tmp_path / "the-pth-ran"
    pth = {"zz_wheelie.pth": MARKING.format(marker=str(marker)) + "\n"}
    wheel = build_wheel(tmp_path / "dist", "wheelie", CONNECTOR, extra=pth)
    site_packages = Path(sysconfig.get_paths()["purelib"])
    before = set(site_packages.iterdir())
    target = tmp_path / "connectors" / "wheelie"

    done = run_cli("connectors", "install", str(wheel), "--into", str(target), "--no-index", timeout=180)

    assert done.returncode == 0, done.stderr
    origin = f"entry point wheelie = wheelie_connector from wheelie_connector 1.0.0 in {target}"
    assert f"installed connector 'wheelie': {origin}" in done.stdout
    assert f"CONNECTORD_CONNECTOR_PATH={target}" in done.stdout
    assert (target / "wheelie_connector.py").exists()
    assert set(site_packages.iterdir()) == before  # nothing went into the server's environment
    cli_env["CONNECTORD_CONNECTOR_PATH"] = str(target)
    listed = run_cli("connectors", "list", "--json", timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "wheelie" in [c["id"] for c in json.loads(listed.stdout)["connectors"]]
    called = run_cli("call", "wheelie", "verify_credentials", "--credentials", "{}", timeout=60)
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout)["data"]["verified"] is True
    assert not marker.exists()  # a .pth beside a connector is no site's: nothing ran it

    again = run_cli("connectors", "install", str(wheel), "--into", str(target), "--no-index", timeout=180)
    assert again.returncode == 0, again.stderr  # an upgrade replaces what is there
    assert "names" in again.stdout and "components reload" in again.stdout


def test_nothing_that_pip_would_build_is_installed_and_no_build_code_runs(
    run_cli: Run, tmp_path: Path
) -> None:
    marker = tmp_path / "the-build-ran"
    project = tmp_path / "project"
    project.mkdir()
    (project / "setup.py").write_text(MARKING.format(marker=str(marker)) + "\n")
    archive = _sdist(tmp_path / "dist", "onlysource", marker)
    target = tmp_path / "connectors" / "x"

    for spec in (
        str(project),
        str(archive),
        f"onlysource @ file://{archive}",
        "git+https://example.com/x.git",
    ):
        refused = run_cli("connectors", "install", spec, "--into", str(target), "--no-index")
        assert refused.returncode == 2, (spec, refused.stderr)
        assert "is not a wheel: pip would build it" in refused.stderr
    # From an index (here a directory of archives), a source distribution is not taken.
    found = ("--find-links", str(archive.parent), "--no-index")
    failed = run_cli("connectors", "install", "onlysource", "--into", str(target), *found, timeout=180)
    assert failed.returncode == 1
    assert "pip could not install onlysource" in failed.stderr
    assert not marker.exists()


def test_the_servers_environment_is_no_place_for_connectors(run_cli: Run, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist", "wheelie", CONNECTOR)
    inside = Path(sysconfig.get_paths()["purelib"]) / "connectors"
    refused = run_cli("connectors", "install", str(wheel), "--into", str(inside), "--no-index")
    assert refused.returncode == 2
    assert "inside the server's environment or import path" in refused.stderr
    assert not inside.exists()


def test_a_package_without_a_connector_is_reported(run_cli: Run, tmp_path: Path) -> None:
    plain = build_wheel(tmp_path / "dist", "plain", "x = 1\n", connector=False)
    target = tmp_path / "connectors" / "plain"
    done = run_cli("connectors", "install", str(plain), "--into", str(target), "--no-index", timeout=180)
    assert done.returncode == 3
    assert "holds no connector: no package there has an entry point in group 'connectord.connectors'" in (
        done.stderr
    )


@pytest.mark.parametrize(
    ("spec", "refused"),
    [
        ("acme-connector", False),
        ("acme-connector[extra]>=1.2,<2", False),
        ("dist/acme-1.0-py3-none-any.whl", False),
        ("https://user@example.com/acme-1.0-py3-none-any.whl#sha256=ab", False),
        ("acme @ https://example.com/acme-1.0-py3-none-any.WHL", False),
        ("acme @ https://example.com/acme-1.0.tar.gz", True),
        ("./acme", True),
        ("dist/acme-1.0.zip", True),
        ("git+https://example.com/acme.git@v1", True),
        ("-e", True),
    ],
)
def test_which_specs_pip_would_build(spec: str, refused: bool) -> None:
    assert (spec_problem(spec) is not None) == refused


def test_a_directory_on_the_import_path_is_refused(tmp_path: Path) -> None:
    assert target_problem(tmp_path / "c", sys.prefix, [tmp_path]) is not None
    assert target_problem(Path(sys.prefix) / "x", sys.prefix, []) is not None
    assert target_problem(tmp_path / "c", sys.prefix, [tmp_path / "other"]) is None


def test_the_advice_names_the_whole_path() -> None:
    advice = path_advice(Path("/opt/c/b"), "/opt/c/a")
    assert advice.endswith("PATH=/opt/c/a:/opt/c/b (a running server: set it and restart)")
    assert "reload" in path_advice(Path("/opt/c/a"), "/opt/c/a")
