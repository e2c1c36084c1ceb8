"""Connectors installed or upgraded while ``connectord serve`` runs are taken in without a
restart: ``connectord components reload`` (POST /v1/components/_reload) and SIGHUP; a call
running meanwhile finishes on the code it began with."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import CONNECTORD
from .server import running_server, server_env, wait_for_log

pytestmark = pytest.mark.e2e

LATE = """
import time
import connectord

@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(
        id="late", title="Late", version="{version}", credentials_schema={{"type": "object"}}
    )

@connectord.hookimpl
def verify_credentials(credentials):
    if "running" in credentials:  # a FIFO: its reader learns that the call runs
        open(credentials["running"], "w").close()
    time.sleep(credentials.get("sleep", 0))
    return connectord.verified("version {version}")
"""


def exec_late(env: dict[str, str], data: dict[str, object] | None = None) -> subprocess.CompletedProcess[str]:
    command = [
        "exec",
        "verify_credentials",
        "--component",
        "late",
        "--data",
        json.dumps(data or {}),
        "--wait",
    ]
    return subprocess.run([CONNECTORD, *command], env=env, capture_output=True, text=True, timeout=60)


def message(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["data"]["message"])


def test_install_upgrade_and_sighup_without_a_restart(
    install_connector: Callable[..., Path], tmp_path: Path, cli_env: dict[str, str]
) -> None:
    site = tmp_path / "late-site"
    site.mkdir()
    with running_server(server_env(tmp_path / "data", site), "ops@acme.test") as served:
        env = served.cli_env(cli_env)
        missing = exec_late(env)
        assert missing.returncode == 2 and "late" in missing.stderr

        install_connector("late", LATE.format(version="1.0.0"), site)
        reload = subprocess.run([CONNECTORD, "components", "reload"], env=env, capture_output=True, text=True)
        assert reload.returncode == 0, reload.stderr
        answer = json.loads(reload.stdout)
        assert (answer["added"], answer["removed"], answer["changed"]) == (["late"], [], [])
        assert "late" in answer["loaded"] and "sql" in answer["loaded"]
        assert message(exec_late(env)) == "version 1.0.0"

        # A call begun before the upgrade finishes on the old code; the next one runs the new.
        slow: list[subprocess.CompletedProcess[str]] = []
        fifo = tmp_path / "running"
        os.mkfifo(fifo)
        fifo.chmod(0o666)  # the connector may run as a user of its own
        data = {"sleep": 3, "running": str(fifo)}
        running = threading.Thread(target=lambda: slow.append(exec_late(env, data)))
        running.start()
        fifo.read_text()  # returns once the call has begun in its worker
        install_connector("late", LATE.format(version="2.0.0"), site)
        reload = subprocess.run([CONNECTORD, "components", "reload"], env=env, capture_output=True, text=True)
        assert json.loads(reload.stdout)["changed"] == ["late"], reload.stderr
        assert message(exec_late(env)) == "version 2.0.0"
        running.join(timeout=60)
        assert message(slow[0]) == "version 1.0.0"

        wait_for_log(served, "changed late")  # the reload above said so: read past it
        install_connector("late", LATE.format(version="3.0.0"), site)
        served.process.send_signal(signal.SIGHUP)
        assert "added none, removed none, changed late" in wait_for_log(served, "changed late")
        assert message(exec_late(env)) == "version 3.0.0"


def test_a_reload_needs_a_user(tmp_path: Path, cli_env: dict[str, str]) -> None:
    with running_server(server_env(tmp_path / "data"), "ops@acme.test") as served:
        env = served.cli_env(cli_env) | {"CONNECTORD_API_KEY": "cdk_wrong"}
        refused = subprocess.run(
            [CONNECTORD, "components", "reload"], env=env, capture_output=True, text=True
        )
        assert refused.returncode == 3 and "refused the credentials" in refused.stderr
