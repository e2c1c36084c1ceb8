"""describe_connector, get_meta_model, schema inference and select_model paging."""

from __future__ import annotations

from typing import Any

import jsonschema
import msgspec
import pytest

from connectord.connectors.webservice import infer_schema
from connectord.connectors.webservice.meta import MAX_INFER_DEPTH, call_meta_model
from connectord.connectors.webservice.options import page, select_options
from connectord.plugins.errors import ConfigError, ConnectorError
from connectord.plugins.manager import Selection, load_connectors
from connectord.plugins.types import Option, SelectQuery


def test_loads_and_describes_itself() -> None:
    registry = load_connectors(Selection(allow=frozenset({"webservice"}), entry_points=False))
    assert registry.errors == []
    info = registry.get("webservice").info
    call = info.operation("call")
    assert call is not None
    assert call.title == "Call a web service endpoint"
    assert call.dynamic_metadata is True
    assert call.model_methods == ["methods", "body_types"]
    assert call.config_schema["required"] == ["url"]
    assert info.secret_fields() == ["password", "token", "api_key"]


@pytest.mark.parametrize(
    ("value", "schema"),
    [
        (None, {"type": "null"}),
        (True, {"type": "boolean"}),
        (3, {"type": "integer"}),
        (3.5, {"type": "number"}),
        ("x", {"type": "string"}),
        ([], {"type": "array"}),
        (
            [{"id": 1}, {"id": 2}],
            {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}}}},
        ),
        (
            {"id": 7, "tags": ["a"], "owner": {"name": "n", "vip": False}, "note": None},
            {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "owner": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "vip": {"type": "boolean"}},
                    },
                    "note": {"type": "null"},
                },
            },
        ),
    ],
)
def test_infer_schema(value: Any, schema: dict[str, Any]) -> None:
    assert infer_schema(value) == schema
    jsonschema.Draft202012Validator.check_schema(schema)
    assert jsonschema.Draft202012Validator(schema).is_valid(value)


def test_infer_schema_uses_the_first_element_of_arrays() -> None:
    assert infer_schema([1, "two"]) == {"type": "array", "items": {"type": "integer"}}


def test_infer_schema_stops_at_a_depth() -> None:
    deep: Any = 1
    for _ in range(MAX_INFER_DEPTH + 5):
        deep = [deep]
    schema = infer_schema(deep)
    assert jsonschema.Draft202012Validator(schema).is_valid(deep)


def test_infer_schema_refuses_non_json() -> None:
    with pytest.raises(ConfigError) as info:
        infer_schema({"when": object()})
    assert info.value.field == "response_sample"


def test_meta_model_defaults() -> None:
    model = msgspec.to_builtins(call_meta_model({}))
    assert set(model) == {"in", "out"}
    # GET: overrides of headers and query only.
    assert set(model["in"]["properties"]) == {"headers", "searchParams"}
    assert model["out"]["required"] == ["status", "reason", "headers", "body"]
    assert "type" not in model["out"]["properties"]["body"]
    for schema in model.values():
        jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(
    ("body_type", "body_schema_type"), [("json", None), ("xml", "string"), ("text", "string")]
)
def test_meta_model_input_body_follows_body_type(body_type: str, body_schema_type: str | None) -> None:
    model = call_meta_model({"method": "post", "body_type": body_type})
    assert model.in_["properties"]["body"].get("type") == body_schema_type
    validator = jsonschema.Draft202012Validator(model.in_)
    assert validator.is_valid({"headers": {"X-A": "1"}, "searchParams": {"q": ["a", 1]}, "body": "<a/>"})
    assert not validator.is_valid({"url": "http://elsewhere/"})


def test_meta_model_output_body_from_a_sample() -> None:
    sample = {"items": [{"sku": "A1", "price": 9.5}], "total": 1}
    for given in (sample, msgspec.json.encode(sample).decode()):
        body = call_meta_model({"response_sample": given}).out["properties"]["body"]
        assert body["properties"]["items"]["items"]["properties"]["price"] == {"type": "number"}
        assert body["properties"]["total"] == {"type": "integer"}


def test_meta_model_head_has_no_body() -> None:
    model = call_meta_model({"method": "HEAD", "response_sample": {"a": 1}})
    assert model.out["properties"]["body"] == {"type": "null"}
    assert "body" not in model.in_["properties"]


@pytest.mark.parametrize(
    ("cfg", "field"),
    [
        ({"method": "TRACE"}, "method"),
        ({"body_type": "yaml"}, "body_type"),
        ({"response_sample": "{not json"}, "response_sample"),
    ],
)
def test_meta_model_bad_cfg(cfg: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        call_meta_model(cfg)
    assert info.value.field == field


OPTIONS = [Option(str(i), f"Option {i}") for i in range(5)]


def test_paging_walks_all_options_once() -> None:
    seen: list[str] = []
    cursor = None
    while True:
        result = page(OPTIONS, SelectQuery(cursor=cursor, limit=2))
        seen += [o.value for o in result.options]
        cursor = result.next_cursor
        if cursor is None:
            break
    assert seen == ["0", "1", "2", "3", "4"]


def test_paging_exact_fit_has_no_next_page() -> None:
    assert page(OPTIONS, SelectQuery(limit=5)).next_cursor is None


def test_search_matches_value_or_label_case_insensitively() -> None:
    result = select_options("methods", SelectQuery(search="p"))
    assert [o.value for o in result.options] == ["POST", "PUT", "PATCH", "OPTIONS"]
    result = select_options("body_types", SelectQuery(search="XML"))
    assert [(o.value, o.label) for o in result.options] == [("xml", "XML (application/xml)")]


@pytest.mark.parametrize("cursor", ["x", "-1", "²"])
def test_bad_cursor(cursor: str) -> None:
    with pytest.raises(ConnectorError, match="invalid cursor"):
        page(OPTIONS, SelectQuery(cursor=cursor))


def test_unknown_model_method() -> None:
    with pytest.raises(ConnectorError, match="unknown model method"):
        select_options("colors", SelectQuery())
