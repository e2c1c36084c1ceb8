"""``connectord serve`` as a user starts it: a real process on a free loopback port."""

from __future__ import annotations

import json
import os
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
from .sandboxing import TEST_TEMP

LISTENING = re.compile(r"connectord listening on (http://\S+)")


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.fixture
def server(cli_env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [CONNECTORD, "serve", "--port", "0"],
        env=cli_env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the socket listens (or the process dies)
        match = LISTENING.search(line)
        assert match, f"no 'listening' line; stderr: {process.stderr.read() if process.stderr else ''}"
        yield process, match.group(1)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


def test_serve_answers_health_and_components_then_stops_cleanly(
    server: tuple[subprocess.Popen[str], str], cli_env: dict[str, str]
) -> None:
    process, url = server
    assert get(f"{url}/health")[0] == 200
    status, body = get(f"{url}/v1/components")
    assert status == 200
    assert {"sql", "webservice", "shop"} <= {c["id"] for c in body["data"]}
    assert get(f"{url}/v1/components/nope") == (
        404,
        {"message": "component 'nope' is not installed", "field": "component_id"},
    )
    assert (Path(cli_env["CONNECTORD_DATA_DIR"]) / "connectord.sqlite3").exists()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert process.stderr is not None
    logged = process.stderr.readlines()
    [protections] = [line for line in logged if "sandbox protections by default" in line]
    root = os.geteuid() == 0
    assert (
        "user ids: one per connector (" if root else "user ids: none (the server is not root)"
    ) in protections
    assert not [line for line in logged if SHARED_PATH in line]
    if root:  # each connector's id, kept for good (a later one cannot take it)
        given = json.loads((Path(cli_env["CONNECTORD_DATA_DIR"]) / "user-ids.json").read_text())
        assert {"sql", "webservice", "shop"} <= set(given)


#: The start-up warning about connectors every zygote (and the server) imports from.
SHARED_PATH = "connectors installed on PYTHONPATH"

PATHY = """
import connectord

@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(id="pathy", title="Pathy", version="1.0.0")
"""


@pytest.fixture
def connector_on_pythonpath(cli_env: dict[str, str], install_connector: Callable[..., Path]) -> Path:
    site = install_connector("pathy", PATHY)
    add_to_pythonpath(cli_env, site)
    return site


def test_a_connector_on_pythonpath_is_warned_about(
    connector_on_pythonpath: Path, server: tuple[subprocess.Popen[str], str]
) -> None:
    """Every zygote imports from a PYTHONPATH, and the server any module there: a directory
    of its own per connector is the way (``connectord connectors install``)."""
    process, url = server
    assert "pathy" in {c["id"] for c in get(f"{url}/v1/components")[1]["data"]}
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert process.stderr is not None
    [warning] = [line for line in process.stderr if SHARED_PATH in line]
    assert str(connector_on_pythonpath) in warning
    assert "connectord connectors install SPEC --into DIR" in warning


def test_a_port_in_use_is_a_clear_error(
    server: tuple[subprocess.Popen[str], str], cli_env: dict[str, str]
) -> None:
    _, url = server
    port = url.rsplit(":", 1)[1]
    result = subprocess.run(
        [CONNECTORD, "serve", "--port", port], env=cli_env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 3
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_setting_is_named(cli_env: dict[str, str]) -> None:
    cli_env["CONNECTORD_PORT"] = "eighty"
    result = subprocess.run([CONNECTORD, "serve"], env=cli_env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 3
    assert "CONNECTORD_PORT must be a port number, got 'eighty'" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="only root gives connectors users of their own")
def test_a_writable_path_a_connectors_user_cannot_write_stops_the_start(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    kept = tmp_path / "roots-own"
    kept.mkdir(mode=0o755)
    config = tmp_path / "connectord.toml"
    config.write_text(f'[sandbox.default.limits]\nwritable_paths = ["{TEST_TEMP}", "{kept}"]\n')
    cli_env["CONNECTORD_CONFIG"] = str(config)
    result = subprocess.run(
        [CONNECTORD, "serve", "--port", "0"], env=cli_env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3
    assert f"writable path {kept} is not writable by the connector's user id" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_process_with_another_secret_key_refuses_the_store(
    server: tuple[subprocess.Popen[str], str], cli_env: dict[str, str]
) -> None:
    """The first server sealed the store's check value with the key file of its data
    directory; a process given another key must not start on that store."""
    process, _ = server
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    other_key = "x" * 43 + "="
    cli_env["CONNECTORD_SECRET_KEY"] = other_key
    result = subprocess.run(
        [CONNECTORD, "serve", "--port", "0"], env=cli_env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 3
    assert "sealed with another secret key" in result.stderr
    assert other_key not in result.stderr and "Traceback" not in result.stderr
