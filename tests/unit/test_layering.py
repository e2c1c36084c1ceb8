"""Dependencies point one way: api → runtime → {sandbox, plugins}; sandbox → plugins;
connectors → plugins and the public ``connectord`` API only; the HTTP client stands alone;
the CLI and the connector authors' pytest plugin sit on top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: What each folder may import of connectord, besides itself.
ALLOWED = {
    "plugins": set(),
    "sandbox": {"plugins"},
    "connectors": {"plugins", ""},  # "": the public API, ``connectord`` itself
    "runtime": {"plugins", "sandbox"},
    "api": {"plugins", "sandbox", "runtime", ""},
    "client": {""},  # the version, for its User-Agent
    "testing": {"plugins", "sandbox", "runtime", "client", "cli"},
    "cli": {"plugins", "sandbox", "runtime", "api", "client", "testing", "connectors", ""},
}


#: What a folder must not import at all: the runtime knows nothing of HTTP (the API's
#: aiohttp application is built around it: api/app.py).
FORBIDDEN = {"runtime": {"aiohttp", "yarl", "multidict", "http"}}


def _imported_modules(path: Path) -> list[str]:
    """The absolute names of the modules ``path`` imports."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _imported_packages(path: Path) -> set[str]:
    """The connectord packages ``path`` imports ("" for ``connectord`` itself)."""
    found: set[str] = set()
    for name in _imported_modules(path):
        parts = name.split(".")
        if parts[0] == "connectord":
            found.add(parts[1] if len(parts) > 1 else "")
    return found


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_dependencies_point_one_way(folder: str) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(bad)
        for path in sorted((ROOT / folder).rglob("*.py"))
        if (bad := _imported_packages(path) - ALLOWED[folder] - {folder})
    }
    assert wrong == {}


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_the_runtime_imports_no_http(folder: str) -> None:
    wrong = {
        str(path.relative_to(ROOT)): bad
        for path in sorted((ROOT / folder).rglob("*.py"))
        if (bad := sorted({n for n in _imported_modules(path) if n.split(".")[0] in FORBIDDEN[folder]}))
    }
    assert wrong == {}


def test_every_zygote_can_read_connectords_own_code_wherever_it_lives() -> None:
    """Workers import parts of connectord lazily (the egress policy, asyncio glue): its
    folders, reached through the links of src/connectord, stay visible and readable to every
    connector's processes, also when the project lives beneath the /tmp they get emptied."""
    from connectord.plugins.manager import PluginSource
    from connectord.sandbox.supervisor import code_locations, preload

    own = code_locations("connectord")
    assert {str(ROOT / folder) for folder in ALLOWED} <= set(own)
    third_party = PluginSource("acme", "entry point acme", lambda: None, "json")
    assert set(own) <= set(preload(third_party).code_paths)


def test_the_package_folder_holds_only_links_to_the_root_folders() -> None:
    """One home for each file: src/connectord is a shim of relative links and the package's
    own ``__init__``/``__main__``, so the file a traceback names is the file you edit."""
    shim = ROOT / "src" / "connectord"
    files = {p.name for p in shim.iterdir() if not p.is_symlink()}
    assert files <= {"__init__.py", "__main__.py", "py.typed", "__pycache__"}
    links = {p.name: p.readlink() for p in shim.iterdir() if p.is_symlink()}
    assert links == {name: Path("../..") / name for name in ALLOWED}
