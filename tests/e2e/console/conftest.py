"""The console in a real headless Chromium (Playwright, Debian's chromium) against a real
server on loopback: the sandbox runs the bundled shop connector and a test connector, the
shop is the demo shop, the store a real SQLite file, the user has a real API key."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import LOOPBACK_EGRESS, TEST_TEMP

from connectord.api.app import create_app
from connectord.plugins.manager import Selection
from connectord.runtime.config import Settings
from connectord.runtime.node import Node
from connectord.runtime.secrets import hash_api_key, load_secret_box, new_api_key
from connectord.runtime.store import open_store
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.policy import ConnectorPolicy, SandboxPolicy
from connectord.sandbox.protocol import Limits

CHROMIUM = os.environ.get("CONNECTORD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SOURCE = Path(__file__).with_name("console_connector.py")
#: Screenshots the README shows; written there only with CONNECTORD_SCREENSHOTS=1 (taken
#: anyway, into a temporary directory, so that a test run leaves the work tree as it was).
DOCS = Path(__file__).parents[3] / "docs"
EMAIL = "ops@example.com"


def _browser_required() -> bool:
    return os.environ.get("CONNECTORD_REQUIRE_BROWSER", "") not in ("", "0", "false")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, with Playwright to drive it; skipped without them unless
    CONNECTORD_REQUIRE_BROWSER=1 (CI), which makes their absence a failure."""
    problem = None
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        problem = "playwright is not installed (pip install -e '.[dev]')"
    if problem is None and not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        problem = f"no browser at {CHROMIUM} (apt-get install chromium; make test does it)"
    if problem is not None:
        if _browser_required():
            pytest.fail(f"CONNECTORD_REQUIRE_BROWSER is set but {problem}")
        pytest.skip(problem)
    return CHROMIUM


@pytest.fixture(scope="session")
def console_site(connector_site: Callable[[str, Path, dict[str, str]], Path]) -> Path:
    # "broken" names a module that does not exist: the console lists its load failure
    return connector_site(
        "connectord_consoletest",
        SOURCE,
        {"consoletest": "connectord_consoletest", "broken": "connectord_no_such_module"},
    )


@pytest.fixture
def console_on_path(
    console_site: Path, site_on_path: Callable[[Path], AbstractContextManager[None]]
) -> Iterator[None]:
    with site_on_path(console_site):
        yield


@pytest.fixture(scope="session")
def demo_shop() -> Iterator[str]:
    """The demo shop's base URL (a few hundred nested categories)."""
    from connectord.connectors.shop.demo.background import serve_in_thread
    from connectord.connectors.shop.demo.server import DEMO_KEY, DEMO_SECRET, create_demo_shop_app

    with serve_in_thread(create_demo_shop_app(DEMO_KEY, DEMO_SECRET)) as url:
        yield url


@dataclass
class Console:
    """A running server, the user's key and a way to store things behind the browser's back."""

    url: str
    settings: Settings
    key: str

    def api_key_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture
async def console(
    aiohttp_server: Callable[..., Any], tmp_path: Path, console_on_path: None
) -> AsyncIterator[Console]:
    from connectord.sandbox.supervisor import Supervisor

    settings = Settings(data_dir=tmp_path, egress_allow=LOOPBACK_EGRESS)  # the demo shop is on loopback
    policy = SandboxPolicy(
        concurrency=2, grace=0.2, default=ConnectorPolicy(limits=Limits(writable_paths=[TEST_TEMP]))
    )
    selection = Selection(allow=frozenset({"shop", "consoletest", "broken"}))
    supervisor = Supervisor(selection, policy, Cgroups(None, None), settings.egress_allow)
    store = open_store(settings)
    key = new_api_key()
    store.add_user(EMAIL, "acme", hash_api_key(key), time.time())
    app = create_app(Node(settings, supervisor, store, load_secret_box(tmp_path, None)))
    server = await aiohttp_server(app)
    yield Console(str(server.make_url("")).rstrip("/"), settings, key)


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1100, "height": 800})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    await context.close()
    assert not errors, f"script errors in the page: {errors}"


async def sign_in(page: Any, console: Console, key: str | None = None) -> None:
    """Sign in through the form, as a user does (keyboard: type, then Enter)."""
    await page.goto(f"{console.url}/console/login")
    await page.get_by_label("Email").fill(EMAIL)
    await page.get_by_label("API key").fill(key or console.key)
    await page.get_by_label("API key").press("Enter")
    await page.wait_for_url(f"{console.url}/console/connectors")


async def screenshot(page: Any, name: str, part: Any = None) -> None:
    """A screenshot for the README (docs/NAME.png): the viewport, or one part of the page."""
    folder = DOCS if os.environ.get("CONNECTORD_SCREENSHOTS") == "1" else Path(tempfile.gettempdir())
    path = str(folder / f"connectord-{name}.png" if folder != DOCS else folder / f"{name}.png")
    await (part.screenshot(path=path) if part is not None else page.screenshot(path=path))


