"""schemathesis (the library, as CI runs it) over the document the server serves: every
phase (its examples, coverage, fuzzing and the stateful phase, which follows the links it
infers between operations) against a real app on loopback, with the sandbox running the
bundled connectors and echo, a real SQLite store and a real user. Every check is on: no 5xx,
every status, header, media type and body as documented, schema-invalid input refused,
schema-valid input accepted.

Deterministic (fixed seed, no example database) and bounded: a handful of examples per
operation, short stateful scenarios, waits capped at one second.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from connectord.runtime.secrets import hash_api_key
from connectord.runtime.store import open_store
from connectord.runtime.store.records import AccountRecord

from .conftest import Api

CONFIG = Path(__file__).with_name("schemathesis.toml")
#: The account the document's examples name, so that they run as they are.
EXAMPLE_ACCOUNT = "4f0c6d2a9b7e4e0f8a1d3c5b7e9f1a2b"
TIME_LIMIT = 300


def sqlite_shop(folder: Path) -> Path:
    """A database with the ``main.orders`` table of the examples (outside the data directory,
    which the sandbox hides)."""
    path = folder / "shop.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
    return path


def add_example_account(api: Api, email: str, database: Path) -> None:
    """The examples' account, of ``email``'s tenant, on the sql connector and ``database``."""
    store = open_store(api.settings)
    try:
        principal = store.principal(hash_api_key(api.users[email]))
        assert principal is not None
        keys = api.box.seal_json({"url": f"sqlite:///{database}"})
        now = time.time()
        store.add_account(AccountRecord(EXAMPLE_ACCOUNT, principal.tenant_id, "main", "sql", keys, now, now))
    finally:
        store.close()


@pytest.mark.timeout(TIME_LIMIT + 60)
@pytest.mark.settings(max_poll_wait=1.0)
@pytest.mark.components("echo", "sql", "webservice", "shop")
@pytest.mark.limits(network=False)  # the jobs it starts call the examples' hosts: not from a test
async def test_schemathesis_finds_nothing(api: Api, tmp_path_factory: pytest.TempPathFactory) -> None:
    api.add_user("alice@acme.test", "acme")
    add_example_account(api, "alice@acme.test", sqlite_shop(tmp_path_factory.mktemp("shop")))
    workdir = tmp_path_factory.mktemp("schemathesis")  # whatever it writes lands there
    base = str(api.client.make_url("/"))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "--no-color",
        "run", base + "v1/openapi.json",
        "--url", base.rstrip("/"),
        "--auth", f"alice@acme.test:{api.users['alice@acme.test']}",
        "--phases", "examples,coverage,fuzzing,stateful",
        cwd=workdir,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        output, _ = await asyncio.wait_for(process.communicate(), TIME_LIMIT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-20000:]
    assert "Stateful" in text and "Scenarios:" in text, text[-5000:]  # the stateful phase ran
