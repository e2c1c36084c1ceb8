"""A live ``connectord serve`` for end-to-end tests: a free port, a data directory of its
own, the installed connectors, and a user with an API key."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from connectord.client import Client

_LISTENING = re.compile(r"connectord listening on (http://\S+)")
#: What the server must not inherit from the caller's environment: its own state and place.
_OWN = (
    "CONNECTORD_DATA_DIR",
    "CONNECTORD_STORE_URL",
    "CONNECTORD_SECRET_KEY",
    "CONNECTORD_HOST",
    "CONNECTORD_PORT",
)


@dataclass(frozen=True)
class LiveServer:
    """A running server: its URL, a user (``email``, ``api_key``) of tenant ``tenant``, its
    data directory and the file its log goes to."""

    url: str
    email: str
    api_key: str
    tenant: str
    data_dir: Path
    log_file: Path

    def client(self, **options: object) -> Client:
        """A blocking client logged in as the user (``connectord.client.Client``)."""
        return Client(self.url, email=self.email, api_key=self.api_key, **options)  # type: ignore[arg-type]

    def log(self) -> str:
        """What the server has logged so far."""
        return self.log_file.read_text(errors="replace")


@contextlib.contextmanager
def live_server(
    data_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    email: str = "tester@example.com",
    tenant: str = "test",
    start_timeout: float = 60,
) -> Iterator[LiveServer]:
    """Run ``connectord serve --port 0`` on ``data_dir`` (made if missing) until the block
    ends, with a user made by ``connectord users add``. ``env``: the server's environment
    (default: this process's, without the variables that would point it at another
    server's data)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    environment = {k: v for k, v in (env if env is not None else os.environ).items() if k not in _OWN}
    environment["CONNECTORD_DATA_DIR"] = str(data_dir)
    command = [sys.executable, "-m", "connectord"]
    added = subprocess.run(
        [*command, "users", "add", email, "--tenant", tenant],
        env=environment,
        capture_output=True,
        text=True,
        timeout=start_timeout,
        check=False,
    )
    if added.returncode != 0:
        raise RuntimeError(f"connectord users add failed: {added.stderr.strip()}")
    log_file = data_dir / "server.log"
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [*command, "serve", "--port", "0"], env=environment, text=True, stdout=subprocess.PIPE, stderr=log
        )
    try:
        url = _listening_url(process, log_file)
        yield LiveServer(url, email, added.stdout.strip(), tenant, data_dir, log_file)
    finally:
        _stop(process)


def _listening_url(process: subprocess.Popen[str], log_file: Path) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()  # the server's first line, or nothing when it fails to start
    match = _LISTENING.search(line)
    if match is None:
        process.wait(timeout=10)
        raise RuntimeError(f"connectord serve did not start: {log_file.read_text(errors='replace').strip()}")
    return match.group(1)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()
