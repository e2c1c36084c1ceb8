"""A supervisor whose zygote loads the hostile test connectors (and nothing else)."""

from __future__ import annotations

import ast
import importlib
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from connectord.plugins.manager import Selection
from connectord.runtime.supervisor.cgroups import Cgroups
from connectord.runtime.supervisor.policy import ConnectorPolicy, SandboxPolicy
from connectord.runtime.supervisor.supervisor import Supervisor
from connectord.sandbox.protocol import Limits

SOURCE = Path(__file__).with_name("hostile_connectors.py")
MODULE = "connectord_hostile"
TIMEOUT = 1.5
GRACE = 0.3
POLICY = SandboxPolicy(
    concurrency=2,
    grace=GRACE,
    default=ConnectorPolicy(
        timeouts={"verify_credentials": TIMEOUT},
        limits=Limits(memory_bytes=256 * 1024 * 1024, cpu_seconds=20, open_files=64, processes=32),
        max_calls_per_worker=5,
    ),
)


def hostile_ids() -> list[str]:
    tree = ast.parse(SOURCE.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "CONNECTORS":
            return list(ast.literal_eval(node.value))
    raise AssertionError("CONNECTORS not found in hostile_connectors.py")


@pytest.fixture(scope="session")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site directory holding the hostile connectors as an installed distribution."""
    site = tmp_path_factory.mktemp("hostile-site")
    shutil.copy(SOURCE, site / f"{MODULE}.py")
    dist_info = site / f"{MODULE}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {MODULE}\nVersion: 1.0\n")
    entries = "".join(f"{name} = {MODULE}:{name}\n" for name in hostile_ids())
    (dist_info / "entry_points.txt").write_text(f"[connectord.connectors]\n{entries}")
    return site


@pytest.fixture(scope="module")
def hostile_on_path(hostile_site: Path) -> Iterator[None]:
    """The supervisor hands its sys.path to the zygote, which then finds the connectors."""
    sys.path.insert(0, str(hostile_site))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(hostile_site))


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def supervisor(hostile_on_path: None) -> AsyncIterator[Supervisor]:
    sup = Supervisor(Selection(allow=frozenset(hostile_ids())), POLICY, Cgroups.detect())
    await sup.start()
    try:
        yield sup
    finally:
        await sup.close()
