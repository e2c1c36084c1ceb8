"""kill -9 of a running server loses nothing accepted and delivers no result twice."""

from __future__ import annotations

import base64
import json
import re
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import CONNECTORD, add_to_pythonpath

ECHO = Path(__file__).resolve().parents[1] / "integration" / "exec" / "echo_connector.py"
LISTENING = re.compile(r"connectord listening on (http://\S+)")


class Server:
    def __init__(self, env: dict[str, str], port: int = 0) -> None:
        self.process = subprocess.Popen(
            [CONNECTORD, "serve", "--port", str(port)], env=env, text=True, stdout=subprocess.PIPE
        )
        assert self.process.stdout is not None
        match = LISTENING.search(self.process.stdout.readline())
        assert match, "the server did not start"
        self.url = match.group(1)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.wait(timeout=20)
        if self.process.stdout:
            self.process.stdout.close()


def request(server: Server, key: str, method: str, path: str, body: Any = None) -> tuple[int, Any, Any]:
    token = base64.b64encode(f"ops@acme.test:{key}".encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        server.url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=30) as response:
            return response.status, json.load(response), response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.load(error), error.headers


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.fixture
def env(cli_env: dict[str, str], install_connector: Callable[[str, str], Path]) -> Iterator[dict[str, str]]:
    add_to_pythonpath(cli_env, install_connector("echo", ECHO.read_text()))
    yield cli_env


def schedule(server: Server, key: str, mode: str) -> str:
    status, body, headers = request(
        server,
        key,
        "POST",
        "/v1/exec/schedule",
        {
            "execution_type": "verify_credentials",
            "component": "echo",
            "account_data": {"token": "t", "mode": mode},
        },
    )
    assert status == 202, body
    return str(headers["Location"]).rsplit("/", 1)[1]


def test_kill_9_then_restart(env: dict[str, str], run_cli: Callable[..., Any]) -> None:
    added = subprocess.run(
        [CONNECTORD, "users", "add", "ops@acme.test", "--tenant", "acme"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = added.stdout.strip()

    server = Server(env)
    delivered = schedule(server, key, "ok")
    assert request(server, key, "GET", f"/v1/exec/poll/{delivered}?wait=20")[0] == 303
    assert request(server, key, "GET", f"/v1/exec/result/{delivered}")[0] == 200
    finished = schedule(server, key, "ok")
    assert request(server, key, "GET", f"/v1/exec/poll/{finished}?wait=20")[0] == 303
    running = schedule(server, key, "slow")
    queued = [schedule(server, key, "slow") for _ in range(3)]
    zygote_children = _descendants(server.process.pid)
    server.stop(signal.SIGKILL)
    for pid in zygote_children:
        assert _gone(pid), f"process {pid} outlived the killed server"

    restarted = Server(env)
    try:
        # delivered before the kill: never again
        assert request(restarted, key, "GET", f"/v1/exec/result/{delivered}")[:2] == (
            404,
            {"message": "Result does not exist."},
        )
        # finished before the kill: still there, once
        assert request(restarted, key, "GET", f"/v1/exec/result/{finished}")[0] == 200
        assert request(restarted, key, "GET", f"/v1/exec/result/{finished}")[0] == 404
        # running or queued at the kill: they run again and finish
        for execution_id in [running, *queued]:
            status, body, _ = request(restarted, key, "GET", f"/v1/exec/poll/{execution_id}?wait=25")
            assert status == 303, body
            status, body, _ = request(restarted, key, "GET", f"/v1/exec/result/{execution_id}")
            assert status == 200 and body["data"]["verified"] is True
    finally:
        restarted.stop()


def _descendants(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    found = [int(c) for c in children]
    for child in list(found):
        found += _descendants(child)
    return found


def _gone(pid: int, tries: int = 100) -> bool:
    import time

    for _ in range(tries):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)  # a process we cannot wait on: poll its state
    return False
