"""``connectord users``: keys are printed once, stored hashed, revoked for good."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

from connectord.runtime.secrets import hash_api_key

Run = Callable[..., CompletedProcess[str]]


def test_add_list_revoke(run_cli: Run, cli_env: dict[str, str]) -> None:
    added = run_cli("users", "add", "ann@acme.test", "--tenant", "acme")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    assert key.startswith("cdk_") and len(key) > 40
    database = Path(cli_env["CONNECTORD_DATA_DIR"]) / "connectord.sqlite3"
    with sqlite3.connect(database) as conn:
        stored = [row[0] for row in conn.execute("SELECT key_hash FROM api_keys")]
    assert stored == [hash_api_key(key)]
    assert key.encode() not in database.read_bytes()

    listing = run_cli("users", "list")
    assert "ann@acme.test" in listing.stdout and "acme" in listing.stdout

    assert run_cli("users", "revoke", "ann@acme.test").stdout.strip() == "revoked 1 key(s) of ann@acme.test"
    again = run_cli("users", "revoke", "ann@acme.test")
    assert again.returncode == 2 and "no active API key for ann@acme.test" in again.stderr


def test_bad_input_is_one_clear_line(run_cli: Run) -> None:
    assert run_cli("users", "add", "ann@acme.test").returncode == 0
    for args, message in [
        (("users", "add", "ann@acme.test"), "user ann@acme.test already exists"),
        (("users", "add", "not-an-email"), "not an e-mail address"),
        (("users", "add", "bob@acme.test", "--tenant", "a b"), "tenant must be"),
    ]:
        result = run_cli(*args)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_rotate_key_replaces_a_lost_key_and_delete_removes_a_user(
    run_cli: Run, cli_env: dict[str, str]
) -> None:
    first = run_cli("users", "add", "cat@acme.test", "--tenant", "acme").stdout.strip()
    rotated = run_cli("users", "rotate-key", "cat@acme.test")
    assert rotated.returncode == 0, rotated.stderr
    second = rotated.stdout.strip()
    assert second.startswith("cdk_") and second != first
    database = Path(cli_env["CONNECTORD_DATA_DIR"]) / "connectord.sqlite3"
    with sqlite3.connect(database) as conn:
        keys = dict(conn.execute("SELECT key_hash, revoked_at IS NULL FROM api_keys"))
    assert keys == {hash_api_key(first): 0, hash_api_key(second): 1}
    assert "cat@acme.test" in run_cli("users", "list").stdout

    deleted = run_cli("users", "delete", "cat@acme.test")
    assert deleted.returncode == 0 and deleted.stdout.strip() == "deleted cat@acme.test"
    assert "cat@acme.test" not in run_cli("users", "list").stdout
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM api_keys").fetchone() == (0,)
    for command in ("rotate-key", "delete"):
        missing = run_cli("users", command, "cat@acme.test")
        assert missing.returncode == 2 and "no user cat@acme.test" in missing.stderr
