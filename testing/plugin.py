"""connectord's pytest plugin (entry point ``pytest11``): fixtures for connector tests.

See :mod:`connectord.testing`. Nothing heavy is imported until a fixture is used: the
plugin is loaded by every pytest run of an environment that has connectord installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from connectord.testing.harness import ConnectorHarness, Runner
    from connectord.testing.server import LiveServer


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("connectord", "connectord connector tests")
    group.addoption(
        "--connectord-sandbox",
        action="store_true",
        default=None,
        help="run connectord_harness calls in the real sandbox (sandboxed workers, deadlines, "
        "limits, Landlock, egress) instead of in this process",
    )
    parser.addini(
        "connectord_sandbox", type="bool", default=False, help="connectord_harness calls run in the sandbox"
    )


def _sandboxed(config: pytest.Config) -> bool:
    option = config.getoption("connectord_sandbox")
    return bool(option if option is not None else config.getini("connectord_sandbox"))


@pytest.fixture(scope="session")
def connectord_runners(request: pytest.FixtureRequest) -> Iterator[dict[str, Runner]]:
    """One runner per connector id, made on first use and closed at the end of the session."""
    runners: dict[str, Runner] = {}
    yield runners
    for runner in runners.values():
        runner.close()


@pytest.fixture
def connectord_harness(
    request: pytest.FixtureRequest, connectord_runners: dict[str, Runner]
) -> Callable[[str], ConnectorHarness]:
    """``connectord_harness(ID)``: the installed connector ``ID``'s hooks, called through
    the server's checks, in this process or (``--connectord-sandbox``) in the sandbox."""
    from connectord.plugins.manager import Selection
    from connectord.testing.harness import ConnectorHarness, InProcessRunner, configured_sandbox

    sandboxed = _sandboxed(request.config)

    def harness(connector: str) -> ConnectorHarness:
        runner = connectord_runners.get(connector)
        if runner is None:
            selection = Selection(allow=frozenset({connector}))
            runner = configured_sandbox(selection) if sandboxed else InProcessRunner(selection)
            connectord_runners[connector] = runner
        return ConnectorHarness(runner, connector)

    return harness


@pytest.fixture(scope="session")
def connectord_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live ``connectord serve`` (one per session) on a free port, a temporary data
    directory, the installed connectors, and a user with an API key: ``.url``, ``.email``,
    ``.api_key``, ``.client()``."""
    from connectord.testing.server import live_server

    with live_server(tmp_path_factory.mktemp("connectord-server") / "data") as server:
        yield server
