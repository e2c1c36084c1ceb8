"""Webhooks: a POST with the job's summary to each URL a definition names, when a job
completes or fails. Best effort: a slow or failing receiver is logged, never retried
forever, and never holds up the job or the scheduler."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp

log = logging.getLogger(__name__)

TIMEOUT = 10.0
ATTEMPTS = 3


class Notifier:
    def __init__(self, timeout: float = TIMEOUT, attempts: int = ATTEMPTS) -> None:
        self.timeout = timeout
        self.attempts = attempts
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, urls: list[str], payload: dict[str, Any]) -> None:
        """Deliver in the background."""
        for url in urls:
            task = asyncio.ensure_future(self._deliver(url, payload))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for deliveries under way (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _deliver(self, url: str, payload: dict[str, Any]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        shown = _shown(url)
        for attempt in range(1, self.attempts + 1):
            try:
                async with self._session.post(url, json=payload, allow_redirects=False) as response:
                    if response.status < 300:
                        return
                    problem = f"HTTP {response.status}"
                    if response.status < 500:
                        break  # the receiver refuses it; asking again will not help
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = type(exc).__name__
            if attempt < self.attempts:
                await asyncio.sleep(attempt)
        log.warning("webhook %s for job %s failed: %s", shown, payload["job"]["jobId"], problem)


def _shown(url: str) -> str:
    """The URL without user info or query, which may hold tokens."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"
