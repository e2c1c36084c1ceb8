"""Loading connectors: built-ins and entry points, allow/block lists, and failures reported."""

from __future__ import annotations

import json
from typing import Any

import pytest

import connectord
from connectord.plugins.manager import (
    HookNotImplementedError,
    PluginSource,
    Selection,
    UnknownConnectorError,
    load_connectors,
    load_sources,
    selected_sources,
    target_source,
)

ONLY_EXTRA = Selection(builtins=False, entry_points=False)


class Echo:
    """A connector that records which of its hooks ran."""

    def __init__(self, connector_id: str, calls: list[str]) -> None:
        self.connector_id = connector_id
        self.calls = calls

    @connectord.hookimpl
    def describe_connector(self) -> dict[str, Any]:
        return {"id": self.connector_id, "title": self.connector_id.title(), "version": "1.0"}

    @connectord.hookimpl
    def verify_credentials(self, credentials: dict[str, Any]) -> connectord.VerifyResult:
        self.calls.append(self.connector_id)
        return connectord.verified(f"{self.connector_id} ok")


def source(name: str, plugin: object) -> PluginSource:
    return PluginSource(name, f"test {name}", lambda: plugin)


def failing_import() -> object:
    raise ImportError("No module named 'requests_oauthlib'")


def test_only_the_target_connector_is_called() -> None:
    calls: list[str] = []
    registry = load_connectors(ONLY_EXTRA, [source(n, Echo(n, calls)) for n in ("a", "b", "c")])
    result = registry.call("b", "verify_credentials", credentials={})
    assert result.message == "b ok"
    assert calls == ["b"]


def test_a_connector_that_fails_to_import_is_reported_and_the_others_load() -> None:
    calls: list[str] = []
    registry = load_connectors(
        ONLY_EXTRA,
        [source("good", Echo("good", calls)), PluginSource("broken", "test broken", failing_import)],
    )
    assert list(registry.connectors) == ["good"]
    [error] = registry.errors
    assert error.name == "broken"
    assert error.reason == "import failed: ImportError: No module named 'requests_oauthlib'"


class BadDescription:
    def __init__(self, description: Any) -> None:
        self.description = description

    @connectord.hookimpl
    def describe_connector(self) -> Any:
        return self.description


@pytest.mark.parametrize(
    ("description", "reason"),
    [
        (None, "describe_connector returned nothing"),
        ({"id": "x", "title": "X"}, "missing required field `version`"),
        ({"id": "Bad Id", "title": "X", "version": "1"}, "id 'Bad Id' must match"),
        ({"id": "x", "title": " ", "version": "1"}, "'title' must not be empty"),
        (
            {"id": "x", "title": "X", "version": "1", "credentials_schema": {"type": "array"}},
            'credentials_schema must have "type": "object"',
        ),
        (
            {"id": "x", "title": "X", "version": "1", "credentials_schema": {"type": 5}},
            "credentials_schema is not a valid JSON schema",
        ),
        (
            {
                "id": "x",
                "title": "X",
                "version": "1",
                "actions": [{"name": "a", "title": "A"}],
                "triggers": [{"name": "a", "title": "A"}],
            },
            "operation 'a' is declared twice",
        ),
        (
            {
                "id": "x",
                "title": "X",
                "version": "1",
                "actions": [{"name": "a", "title": "A", "model_methods": ["tables"]}],
            },
            "its operations need select_model but it implements none",
        ),
        (
            {
                "id": "x",
                "title": "X",
                "version": "1",
                "actions": [{"name": "a", "title": "A", "dynamic_metadata": True}],
            },
            "its operations need get_meta_model but it implements none",
        ),
        ({"id": "y", "title": "Y", "version": "1"}, "describes itself as 'y' but is installed as 'x'"),
        (
            {
                "id": "x",
                "title": "X",
                "version": "1",
                "actions": [{"name": "a", "title": "A", "cache_seconds": {"tables": 5}}],
            },
            "cache_seconds names 'tables', which is neither get_meta_model nor one of its model methods",
        ),
        (
            {
                "id": "x",
                "title": "X",
                "version": "1",
                "actions": [{"name": "a", "title": "A", "cache_seconds": {"get_meta_model": 0}}],
            },
            "cache_seconds['get_meta_model'] must be more than 0",
        ),
    ],
)
def test_a_wrong_description_is_reported_with_the_reason(description: Any, reason: str) -> None:
    registry = load_connectors(ONLY_EXTRA, [source("x", BadDescription(description))])
    assert registry.connectors == {}
    [error] = registry.errors
    assert reason in error.reason
    # the failed plugin is not left registered, so it can never be called
    assert registry.pm.get_plugins() == set()


class Typo:
    @connectord.hookimpl
    def describe_connector(self) -> dict[str, str]:
        return {"id": "typo", "title": "T", "version": "1"}

    @connectord.hookimpl
    def verify_credential(self, credentials: dict[str, Any]) -> None:  # missing 's'
        return None


class ExtraArgument:
    @connectord.hookimpl
    def describe_connector(self, tenant: str) -> dict[str, str]:
        return {"id": "extra", "title": "E", "version": "1"}


class RaisesInDescribe:
    @connectord.hookimpl
    def describe_connector(self) -> dict[str, str]:
        raise RuntimeError("boom")


def test_hook_typos_and_bad_signatures_are_reported() -> None:
    registry = load_connectors(
        ONLY_EXTRA,
        [source("typo", Typo()), source("extra", ExtraArgument()), source("raises", RaisesInDescribe())],
    )
    reasons = {e.name: e.reason for e in registry.errors}
    assert "unknown hook(s) verify_credential" in reasons["typo"]
    assert "known hooks: describe_connector, get_meta_model" in reasons["typo"]
    assert "invalid hook implementation" in reasons["extra"] and "tenant" in reasons["extra"]
    assert reasons["raises"] == "describe_connector raised RuntimeError: boom"


def test_duplicate_ids_keep_the_first_and_report_the_second() -> None:
    calls: list[str] = []
    registry = load_connectors(ONLY_EXTRA, [source("a", Echo("a", calls)), source("a", Echo("a", calls))])
    assert len(registry.connectors) == 1
    assert "already taken by test a" in registry.errors[0].reason


def test_allow_and_block_lists_skip_without_loading() -> None:
    loaded: list[str] = []

    def tracking(name: str) -> PluginSource:
        def load() -> object:
            loaded.append(name)
            return Echo(name, [])

        return PluginSource(name, f"test {name}", load)

    names = ("a", "b", "c")
    registry = load_connectors(
        Selection(allow=frozenset({"a", "b"}), block=frozenset({"b"}), builtins=False, entry_points=False),
        [tracking(n) for n in names],
    )
    assert list(registry.connectors) == ["a"]
    assert loaded == ["a"]


def test_unknown_connector_and_missing_hook_errors_name_what_exists() -> None:
    registry = load_connectors(ONLY_EXTRA, [source("a", Echo("a", []))])
    with pytest.raises(UnknownConnectorError, match=r"unknown connector 'zz' \(installed: a\)"):
        registry.get("zz")
    with pytest.raises(HookNotImplementedError, match="'a' does not implement select_model"):
        registry.call("a", "select_model", action="x", method="y", credentials={}, cfg={}, query=None)


def test_each_registry_has_its_own_plugin_manager() -> None:
    first = load_connectors(ONLY_EXTRA, [source("a", Echo("a", []))])
    second = load_connectors(ONLY_EXTRA)
    assert first.pm is not second.pm
    assert second.connectors == {}


def test_a_source_says_where_its_connector_is_imported_from() -> None:
    """What a connector's own zygote imports directly, without reading entry points."""
    [shop] = selected_sources(Selection(allow=frozenset({"shop"}), entry_points=False))
    assert shop.target == "connectord.connectors.shop"
    again = load_sources([target_source("shop", "again", shop.target)], check_schemas=False)
    first = load_connectors(Selection(allow=frozenset({"shop"}), entry_points=False))
    assert again.get("shop").info == first.get("shop").info
    nested = target_source("encode", "test", "json:JSONEncoder.encode").load()
    assert nested is json.JSONEncoder.encode
