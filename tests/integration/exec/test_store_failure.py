"""A full disk under the store: 503 with Retry-After, nothing half-written, and recovery
once there is room again (a real, tiny tmpfs)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from connectord.api.app import create_app
from connectord.plugins.manager import Selection
from connectord.runtime.config import Settings
from connectord.runtime.node import Node
from connectord.runtime.secrets import hash_api_key, load_secret_box, new_api_key
from connectord.runtime.store import open_store
from connectord.sandbox.supervisor import Supervisor

from .conftest import basic


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(directory: Path) -> Path:
    filler = directory / "filler"
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


async def test_full_disk_gives_503_and_recovers(
    small_disk: Path, aiohttp_client: Callable[..., Any], echo_on_path: None
) -> None:
    settings = Settings(data_dir=small_disk)
    store = open_store(settings)
    key = new_api_key()
    store.add_user("alice@acme.test", "acme", hash_api_key(key), time.time())
    headers = basic("alice@acme.test", key)
    supervisor = Supervisor(Selection(allow=frozenset({"echo"})))
    app = create_app(Node(settings, supervisor, store, load_secret_box(small_disk, None)))
    client = await aiohttp_client(app)
    body = {"execution_type": "verify_credentials", "component": "echo", "account_data": {"token": "t"}}

    filler = fill(small_disk)
    refused = await client.post("/v1/exec/schedule", json=body, headers=headers)
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "5"
    assert "nothing was changed" in (await refused.json())["message"]

    filler.unlink()
    accepted = await client.post("/v1/exec/schedule", json=body, headers=headers)
    assert accepted.status == 202
    poll = accepted.headers["Location"].split("/", 3)[3]
    assert (await client.get(f"/{poll}?wait=20", headers=headers)).status == 200
    # the refused request left nothing behind: exactly one execution exists
    check = open_store(settings)
    try:
        with check.db.read() as db:
            assert db.one("SELECT count(*) FROM executions") == (1,)
    finally:
        check.close()
