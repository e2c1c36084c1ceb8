"""Guards on the connector contract: every hook is documented, typed and exercised."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from connectord.plugins import hookspecs
from connectord.plugins.markers import PROJECT

HOOKS = sorted(
    name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, f"{PROJECT}_spec")
)
TESTS_DIR = Path(__file__).resolve().parents[1]


def test_the_contract_has_the_five_hooks() -> None:
    assert HOOKS == ["describe_connector", "get_meta_model", "run_job", "select_model", "verify_credentials"]


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert len(doc.split()) >= 30, f"{hook} needs a docstring for connector authors"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_typed(hook: str) -> None:
    signature = inspect.signature(getattr(hookspecs, hook))
    assert signature.return_annotation is not inspect.Signature.empty
    assert all(p.annotation is not inspect.Parameter.empty for p in signature.parameters.values())


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_exercised_by_a_test(hook: str) -> None:
    """A test outside this file names the hook in a call or an implementation."""
    pattern = re.compile(rf"\b{hook}\b")
    sources = [p for p in TESTS_DIR.rglob("test_*.py") if p.name != Path(__file__).name]
    assert any(pattern.search(p.read_text()) for p in sources), f"no test exercises {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_in_the_readme(hook: str) -> None:
    readme = (TESTS_DIR.parent / "README.md").read_text()
    assert hook in readme, f"README does not mention {hook}"
