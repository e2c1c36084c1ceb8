"""run_call: checks before the connector runs, results validated, failures become Rejected."""

from __future__ import annotations

from typing import Any

import pytest

import connectord
from connectord.plugins.manager import PluginSource, Selection, load_connectors
from connectord.runtime.calls import InvalidCallError, run_call
from connectord.sandbox.calls import Call
from connectord.sandbox.outcomes import Rejected, Succeeded
from connectord.sandbox.redact import MASK

SECRET = "tok-very-secret-9"


class Catalog:
    """A small but complete connector: credentials with a secret, a dropdown, metadata."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.behaviour: Any = None

    @connectord.hookimpl
    def describe_connector(self) -> connectord.ConnectorInfo:
        return connectord.ConnectorInfo(
            id="catalog",
            title="Catalog",
            version="2.0",
            credentials_schema={
                "type": "object",
                "required": ["user", "token"],
                "properties": {
                    "user": {"type": "string"},
                    "token": {"type": "string", "secret": True},
                },
            },
            actions=[
                connectord.Operation(
                    name="put", title="Put", dynamic_metadata=True, model_methods=["colors"]
                ),
                connectord.Operation(name="static", title="Static"),
            ],
        )

    @connectord.hookimpl
    def verify_credentials(self, credentials: dict[str, Any]) -> Any:
        self.seen.append(("verify_credentials", credentials))
        if self.behaviour is not None:
            return self.behaviour(credentials)
        if credentials["token"] != SECRET:
            return connectord.not_verified("auth", "token refused", "token")
        return connectord.verified()

    @connectord.hookimpl
    async def select_model(
        self, method: str, cfg: dict[str, Any], query: connectord.SelectQuery
    ) -> connectord.SelectResult:
        colors = ["red", "green", "blue", "black"]
        start = int(query.cursor or 0)
        hits = [c for c in colors if not query.search or query.search in c]
        page = hits[start : start + query.limit]
        more = start + query.limit < len(hits)
        return connectord.SelectResult(
            options=[connectord.Option(value=c, label=c.title()) for c in page],
            next_cursor=str(start + query.limit) if more else None,
        )

    @connectord.hookimpl
    def get_meta_model(self, action: str, cfg: dict[str, Any]) -> Any:
        if "color" not in cfg:
            raise connectord.ConfigError("choose a color first", field="color")
        return {"in": {"type": "object"}, "out": {"type": "object", "title": cfg["color"]}}


@pytest.fixture
def catalog() -> Catalog:
    return Catalog()


@pytest.fixture
def registry(catalog: Catalog) -> Any:
    return load_connectors(
        Selection(builtins=False, entry_points=False),
        [PluginSource("catalog", "test", lambda: catalog)],
    )


GOOD = {"user": "ann", "token": SECRET}


def call(**kwargs: Any) -> Call:
    return Call(connector="catalog", **kwargs)


def test_verify_credentials_succeeds_and_refuses(registry: Any) -> None:
    assert run_call(registry, call(method="verify_credentials", credentials=GOOD)) == Succeeded(
        {"verified": True, "message": "Credentials verified."}
    )
    refused = run_call(registry, call(method="verify_credentials", credentials={**GOOD, "token": "nope"}))
    assert refused == Succeeded(
        {"verified": False, "message": "token refused", "failure": {"kind": "auth", "field": "token"}}
    )


def test_credentials_that_break_the_schema_never_reach_the_connector(registry: Any, catalog: Catalog) -> None:
    missing = run_call(registry, call(method="verify_credentials", credentials={"user": "ann"}))
    assert missing == Succeeded(
        {
            "verified": False,
            "message": "credential field 'token' is required",
            "failure": {"kind": "config", "field": "token"},
        }
    )
    wrong_type = run_call(
        registry, call(method="get_meta_model", action="put", credentials={"user": 5, "token": SECRET})
    )
    assert wrong_type == Rejected(
        "InvalidCredentials", "credential field 'user' fails 'type': expected string", "user"
    )
    assert catalog.seen == []


def test_an_exception_is_rejected_with_type_and_redacted_message(registry: Any, catalog: Catalog) -> None:
    def explode(credentials: dict[str, Any]) -> None:
        raise RuntimeError(f"server said no to Bearer {credentials['token']}")

    catalog.behaviour = explode
    outcome = run_call(registry, call(method="verify_credentials", credentials=GOOD))
    assert outcome == Rejected("RuntimeError", f"server said no to Bearer {MASK}")


@pytest.mark.parametrize(
    ("returned", "fragment"),
    [
        (None, "verify_credentials returned nothing"),
        ({"verified": "yes"}, "returned an invalid VerifyResult: Expected `bool`"),
        (connectord.VerifyResult(verified=1), "returned an invalid VerifyResult"),  # type: ignore[arg-type]
        (object(), "returned an invalid VerifyResult"),
    ],
)
def test_an_invalid_result_is_rejected_not_passed_on(
    registry: Any, catalog: Catalog, returned: Any, fragment: str
) -> None:
    catalog.behaviour = lambda _credentials: returned
    outcome = run_call(registry, call(method="verify_credentials", credentials=GOOD))
    assert isinstance(outcome, Rejected) and outcome.error_type == "InvalidResult"
    assert fragment in outcome.message


def test_select_model_pages_and_searches_through_an_async_hook(registry: Any) -> None:
    first = run_call(
        registry,
        call(
            method="select_model",
            action="put",
            model_method="colors",
            credentials=GOOD,
            query=connectord.SelectQuery(limit=3),
        ),
    )
    assert first == Succeeded(
        {
            "options": [
                {"value": "red", "label": "Red"},
                {"value": "green", "label": "Green"},
                {"value": "blue", "label": "Blue"},
            ],
            "next_cursor": "3",
        }
    )
    last = run_call(
        registry,
        call(
            method="select_model",
            action="put",
            model_method="colors",
            credentials=GOOD,
            query=connectord.SelectQuery(limit=3, cursor="3"),
        ),
    )
    assert last == Succeeded({"options": [{"value": "black", "label": "Black"}], "next_cursor": None})
    searched = run_call(
        registry,
        call(
            method="select_model",
            action="put",
            model_method="colors",
            credentials=GOOD,
            query=connectord.SelectQuery(search="bl"),
        ),
    )
    assert [o["value"] for o in searched.data["options"]] == ["blue", "black"]  # type: ignore[union-attr]


def test_get_meta_model_returns_in_and_out_and_config_errors_name_the_field(registry: Any) -> None:
    ok = run_call(
        registry, call(method="get_meta_model", action="put", credentials=GOOD, cfg={"color": "red"})
    )
    assert ok == Succeeded({"in": {"type": "object"}, "out": {"type": "object", "title": "red"}})
    missing = run_call(registry, call(method="get_meta_model", action="put", credentials=GOOD))
    assert missing == Rejected("ConfigError", "choose a color first", "color")


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"method": "select_model", "model_method": "colors"}, "action", "select_model needs an action"),
        (
            {"method": "get_meta_model", "action": "nope"},
            "action",
            "has no action or trigger 'nope' (it has: put, static)",
        ),
        ({"method": "select_model", "action": "put"}, "model_method", "select_model needs a model method"),
        (
            {"method": "select_model", "action": "put", "model_method": "sizes"},
            "model_method",
            "has no model method 'sizes' (it has: colors)",
        ),
        (
            {"method": "get_meta_model", "action": "static"},
            "action",
            "'static' of connector 'catalog' has no dynamic metadata",
        ),
    ],
)
def test_bad_calls_are_refused_before_anything_runs(
    registry: Any, catalog: Catalog, kwargs: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidCallError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        run_call(registry, call(credentials=GOOD, **kwargs))
    assert info.value.field == field
    assert catalog.seen == []
