"""``connectord new connector`` makes a package whose own tests (through connectord's pytest
plugin, in process and in the sandbox, and against a live server) and ``connectord check``
pass as generated: built and installed as an author would, into a directory of its own."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import add_to_pythonpath

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def generated(run_cli: Run, tmp_path: Path, cli_env: dict[str, str]) -> Path:
    """A new connector 'acme-crm' made in tmp_path, pip-installed into a site of its own
    that the CLI under test sees."""
    made = run_cli("new", "connector", "acme-crm", "--dir", str(tmp_path / "acme-crm"))
    assert made.returncode == 0, made.stderr
    assert "src/acme_crm_connector/__init__.py" in made.stdout
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
            "--no-build-isolation", "--disable-pip-version-check", "--target", str(site),
            str(tmp_path / "acme-crm"),
        ],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    add_to_pythonpath(cli_env, site)
    return tmp_path / "acme-crm"


def run_its_tests(package: Path, env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning",
         *options],
        cwd=package, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_its_tests_pass_in_process_and_in_the_sandbox(generated: Path, cli_env: dict[str, str]) -> None:
    fast = run_its_tests(generated, cli_env)
    assert fast.returncode == 0, fast.stdout + fast.stderr
    assert "7 passed" in fast.stdout
    sandboxed = run_its_tests(generated, cli_env, "--connectord-sandbox")
    assert sandboxed.returncode == 0, sandboxed.stdout + sandboxed.stderr
    assert "7 passed" in sandboxed.stdout


def test_it_passes_connectord_check(generated: Path, run_cli: Run) -> None:
    result = run_cli(
        "check", "acme-crm", "--json",
        "--credentials", '{"api_key": "ak_example_key_1"}', "--bad-credentials", '{"api_key": "wrong_key_1"}',
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    body = json.loads(result.stdout)
    assert (body["failed"], body["skipped"]) == (0, 0)
    assert {c["name"] for c in body["checks"]} >= {
        "select_model add_item/lists: pages",
        "get_meta_model add_item: valid JSON schemas",
        "secrets never come back in answers or logs",
    }


def test_a_failing_test_shows_the_connectors_traceback_with_secrets_masked(
    generated: Path, cli_env: dict[str, str]
) -> None:
    hooks = generated / "src" / "acme_crm_connector" / "__init__.py"
    broken = hooks.read_text().replace(
        'if credentials["api_key"].startswith("ak_"):',
        'if credentials["api_key"].startswith("ak_"):\n'
        '        raise RuntimeError("cannot check " + credentials["api_key"])',
    )
    site = Path(cli_env["PYTHONPATH"].split(":")[0])
    (site / "acme_crm_connector" / "__init__.py").write_text(broken)
    for mode in ([], ["--connectord-sandbox"]):
        result = run_its_tests(generated, cli_env, "-k", "verified", *mode)
        assert result.returncode == 1, mode
        shown = result.stdout
        assert "acme-crm.verify_credentials was rejected: RuntimeError: cannot check **********" in shown
        assert "The connector's traceback (secrets masked):" in shown
        assert 'acme_crm_connector/__init__.py", line ' in shown
        assert 'raise RuntimeError("cannot check " + credentials["api_key"])' in shown
        assert "ak_example_key_1" not in shown


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["new", "connector", "Acme"], "connector name 'Acme' must match"),
        (["new", "connector", "acme", "--dir", "{tmp}"], "already exists and is not an empty directory"),
    ],
)
def test_bad_names_and_places_are_one_line(
    run_cli: Run, tmp_path: Path, arguments: list[str], message: str
) -> None:
    (tmp_path / "kept.txt").write_text("mine")
    result = run_cli(*(a.replace("{tmp}", str(tmp_path)) for a in arguments))
    assert result.returncode == 2
    assert result.stderr.startswith("connectord: error: ") and message in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert (tmp_path / "kept.txt").read_text() == "mine"
