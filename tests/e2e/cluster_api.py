"""Talking to a cluster over HTTP as one user, and the ``tally`` connector that counts how
often each call or job really ran (``tests/e2e/tally_connector.py``)."""

from __future__ import annotations

import base64
import collections
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

TALLY = Path(__file__).resolve().parent / "tally_connector.py"


@pytest.fixture(scope="session")
def tally_site(install_connector: Callable[[str, str], Path]) -> Path:
    return install_connector("tally", TALLY.read_text())


class Api:
    """One user's view of the cluster, over HTTP (no redirects followed)."""

    def __init__(self, session: aiohttp.ClientSession, urls: list[str]) -> None:
        self.session, self.urls = session, urls

    async def call(self, node: int, method: str, path: str, body: Any = None) -> tuple[int, Any, Any]:
        url = self.urls[node % len(self.urls)] + path
        async with self.session.request(method, url, json=body, allow_redirects=False) as response:
            payload = await response.json(content_type=None) if response.content_length != 0 else None
            return response.status, payload, response.headers

    async def schedule(self, node: int, credentials: dict[str, Any]) -> str:
        body = {"execution_type": "verify_credentials", "component": "tally", "account_data": credentials}
        status, payload, headers = await self.call(node, "POST", "/v1/exec/schedule", body)
        assert status == 202, payload
        return str(headers["Location"]).rsplit("/", 1)[1]

    async def wait_ready(self, node: int, execution_id: str, limit: float = 60) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            status, payload, _ = await self.call(node, "GET", f"/v1/exec/poll/{execution_id}?wait=20")
            if status == 303:
                return
            assert status == 200, payload
        raise AssertionError(f"execution {execution_id} not ready after {limit} s")


def session_for(email: str, key: str) -> aiohttp.ClientSession:
    auth = "Basic " + base64.b64encode(f"{email}:{key}".encode()).decode()
    return aiohttp.ClientSession(
        headers={"Authorization": auth},
        connector=aiohttp.TCPConnector(limit=60),
        timeout=aiohttp.ClientTimeout(60),
    )


def tally_lines(path: Path) -> collections.Counter[str]:
    return collections.Counter(path.read_text().splitlines()) if path.exists() else collections.Counter()
