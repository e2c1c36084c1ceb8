"""A supervisor whose zygote loads the hostile test connectors (and nothing else)."""

from __future__ import annotations

import ast
import contextlib
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import msgspec
import pytest
import pytest_asyncio
from tests.conftest import TEST_TEMP, on_sys_path

from connectord.plugins.manager import Selection
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.policy import ConnectorPolicy, SandboxPolicy
from connectord.sandbox.protocol import Limits
from connectord.sandbox.supervisor import Supervisor

SOURCE = Path(__file__).with_name("hostile_connectors.py")
MODULE = "connectord_hostile"
TIMEOUT = 1.5
GRACE = 0.3
DEFAULT = ConnectorPolicy(
    timeouts={"verify_credentials": TIMEOUT},
    limits=Limits(
        memory_bytes=256 * 1024 * 1024,
        cpu_seconds=20,
        open_files=64,
        processes=32,
        writable_paths=[TEST_TEMP],
    ),
    max_calls_per_worker=5,
)
#: The grower's pooled workers are recycled once they have grown past this.
GROWER_MAX_RSS = 96 * 1024 * 1024
POLICY = SandboxPolicy(
    concurrency=2,
    grace=GRACE,
    default=DEFAULT,
    connectors={"grower": msgspec.structs.replace(DEFAULT, max_rss_bytes=GROWER_MAX_RSS)},
)


#: ``install(prefix, {name: source})``: see ``connectors_on_path``.
InstallConnectors = Callable[[str, dict[str, str]], AbstractContextManager[dict[str, Path]]]


@pytest.fixture(scope="session")
def connectors_on_path(
    tmp_path_factory: pytest.TempPathFactory, connector_site: Callable[[str, Path, dict[str, str]], Path]
) -> InstallConnectors:
    """Each connector's module source installed as module ``{prefix}_{name}`` in a site of
    its own (its entry point: ``name``), on the import path while the context lasts; the
    sites by name."""

    @contextlib.contextmanager
    def install(prefix: str, sources: dict[str, str]) -> Iterator[dict[str, Path]]:
        made = tmp_path_factory.mktemp(f"{prefix}-sources")
        sites: dict[str, Path] = {}
        with contextlib.ExitStack() as stack:
            for name, code in sources.items():
                module = f"{prefix}_{name}"
                source = made / f"{module}.py"
                source.write_text(textwrap.dedent(code))
                sites[name] = connector_site(module, source, {name: module})
                stack.enter_context(on_sys_path(sites[name]))
            yield sites

    return install


def hostile_ids() -> list[str]:
    tree = ast.parse(SOURCE.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "CONNECTORS":
            return list(ast.literal_eval(node.value))
    raise AssertionError("CONNECTORS not found in hostile_connectors.py")


@pytest.fixture(scope="session")
def hostile_site(connector_site: Callable[[str, Path, dict[str, str]], Path]) -> Path:
    """A site directory holding the hostile connectors as an installed distribution."""
    return connector_site(MODULE, SOURCE, {name: f"{MODULE}:{name}" for name in hostile_ids()})


@pytest.fixture(scope="module")
def hostile_on_path(
    hostile_site: Path, site_on_path: Callable[[Path], AbstractContextManager[None]]
) -> Iterator[None]:
    with site_on_path(hostile_site):
        yield


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def supervisor(hostile_on_path: None) -> AsyncIterator[Supervisor]:
    sup = Supervisor(Selection(allow=frozenset(hostile_ids())), POLICY, Cgroups.detect())
    await sup.start()
    try:
        yield sup
    finally:
        await sup.close()
