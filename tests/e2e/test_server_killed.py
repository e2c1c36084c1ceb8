"""A server ended by ``kill -9`` leaves no process of a connector's behind, even one whose
import code undid what makes its zygote die with the server (sandbox/watchdog.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import CONNECTORD
from .server import alive, running_server, server_env

pytestmark = pytest.mark.e2e

#: In its zygote, import code forgets the parent-death signal, ignores SIGTERM and replaces
#: what the zygote does once orphaned; its hook reports the zygote's pid.
LINGER = """
import ctypes
import os
import signal
import sys
import time

import connectord

ZYGOTE = getattr(sys.modules.get("connectord.sandbox.zygote"), "Zygote", None)
if ZYGOTE is not None:
    ctypes.CDLL(None).prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG: none
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def stay(self):
        while True:
            time.sleep(3600)

    ZYGOTE._orphaned = stay


@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(id="linger", title="Linger", version="1.0.0")


@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified(str(os.getppid()))
"""


def test_a_zygote_that_undid_its_parent_death_signal_ends_with_a_killed_server(
    install_connector: Callable[..., Path], tmp_path: Path, cli_env: dict[str, str]
) -> None:
    site = install_connector("linger", LINGER)
    with running_server(server_env(tmp_path / "data", site), "ops@acme.test") as served:
        called = subprocess.run(
            [CONNECTORD, "exec", "verify_credentials", "--component", "linger", "--data", "{}", "--wait"],
            env=served.cli_env(cli_env),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert called.returncode == 0, called.stderr
        zygote = int(json.loads(called.stdout)["data"]["message"])
        assert alive(zygote)
        os.kill(served.process.pid, signal.SIGKILL)
        served.process.wait(timeout=10)
        for _ in range(500):
            if not alive(zygote):
                break
            time.sleep(0.02)
        assert not alive(zygote), "the connector's zygote outlived the server"
