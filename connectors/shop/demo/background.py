"""Serve an aiohttp app from a background thread with its own event loop.

For tests and embedding: the connector runtime calls ``asyncio.run`` per hook, which cannot
run inside another running loop, so a shop it talks to must live on a loop of its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from connectord.connectors.shop.demo.server import (
    DEMO_KEY,
    DEMO_SECRET,
    create_demo_shop_app,
    start_app,
)

STARTUP_TIMEOUT = 10.0


@contextmanager
def serve_in_thread(app: web.Application, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` while the block runs; yields its base URL (``http://host:port``)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=_run_loop, args=(loop,), name="demo-shop", daemon=True)
    thread.start()
    try:
        runner, base_url = asyncio.run_coroutine_threadsafe(
            start_app(app, host, port), loop
        ).result(STARTUP_TIMEOUT)
        try:
            yield base_url
        finally:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(STARTUP_TIMEOUT)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STARTUP_TIMEOUT)


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    # Closed in its own thread, so the caller may itself be running an event loop.
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


@contextmanager
def demo_shop_in_thread(
    consumer_key: str = DEMO_KEY, consumer_secret: str = DEMO_SECRET, seed: int = 7
) -> Iterator[str]:
    """The demo shop on a free loopback port while the block runs; yields its base URL."""
    with serve_in_thread(create_demo_shop_app(consumer_key, consumer_secret, seed)) as url:
        yield url
