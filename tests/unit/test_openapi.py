"""api/openapi.json: valid OpenAPI 3.1, one operation per route (both ways), public exactly
where the auth middleware lets callers in, request/response Structs mirrored field by field,
and its examples (and seed 001's bodies) valid against its own schemas.

Responses of the running server are checked against it in tests/integration/test_openapi.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import connectord
from connectord.api import accounts, auth, executions, openapi
from connectord.api.routes import ROUTES
from connectord.plugins.types import (
    CONNECTOR_ID_PATTERN,
    ConnectorInfo,
    MetaModel,
    SelectResult,
    VerifyResult,
)
from connectord.runtime.accounts import AccountBody, AccountView
from connectord.runtime.executions.requests import ScheduleRequest

pytestmark = pytest.mark.unit

FILE = Path(openapi.__file__).with_name("openapi.json")
DOC: dict[str, Any] = json.loads(FILE.read_text())
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
BASE = "urn:connectord:openapi"


def operations(doc: dict[str, Any] = DOC) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def validator(ref: str) -> Draft202012Validator:
    """A validator for the schema at ``ref`` (a pointer into the document), whose own
    ``#/components/...`` references resolve in the document."""
    registry: Registry = Registry().with_resource(BASE, Resource.from_contents(DOC, DRAFT202012))
    return Draft202012Validator({"$ref": BASE + ref}, registry=registry)


def resolved(obj: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in obj:
        node: Any = DOC
        for part in obj["$ref"].removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        obj = node
    return obj


def response_schema_ref(path: str, method: str, status: str) -> str:
    """The pointer to the JSON schema of a response, following a ``$ref``ed response."""
    response = DOC["paths"][path][method]["responses"][status]
    if "$ref" in response:
        return response["$ref"] + "/content/application~1json/schema"
    return pointer("paths", path, method, "responses", status, "content", "application/json", "schema")


# -- (a) valid OpenAPI 3.1 --------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1() -> None:
    # Dev dependency (pyproject's dev extra): the reference validator of the OpenAPI spec.
    from openapi_spec_validator import validate
    from openapi_spec_validator.versions import consts, get_spec_version

    validate(DOC)
    assert get_spec_version(DOC) == consts.OPENAPIV31


def test_every_schema_is_a_valid_json_schema() -> None:
    for schema in DOC["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_the_document_is_the_package_version() -> None:
    assert DOC["info"]["version"] == connectord.__version__


def test_the_handler_serves_the_file_as_it_is() -> None:
    assert FILE.read_bytes() == openapi.DOCUMENT


# -- (b) routes and paths agree, both ways -----------------------------------------------


def test_every_route_is_documented_and_every_operation_is_routed() -> None:
    routed = {(route.path, route.method.lower()) for route in ROUTES}  # type: ignore[attr-defined]
    documented = set(operations())
    assert not routed - documented, f"routes missing from api/openapi.json: {sorted(routed - documented)}"
    assert not documented - routed, f"documented but not routed: {sorted(documented - routed)}"


def test_path_parameters_are_declared_for_every_operation() -> None:
    for (path, method), op in operations().items():
        declared = {
            p["name"]
            for p in map(resolved, [*DOC["paths"][path].get("parameters", []), *op.get("parameters", [])])
            if p["in"] == "path"
        }
        assert declared == set(re.findall(r"{(\w+)}", path)), (path, method)


def _public(path: str) -> bool:
    """The auth middleware's rule, applied to a concrete path of the template."""
    concrete = re.sub(r"{\w+}", "x", path)
    return concrete in auth.PUBLIC_PATHS or concrete.startswith(auth.PUBLIC_PREFIXES)


def test_public_exactly_where_the_auth_middleware_lets_callers_in() -> None:
    assert DOC["security"] == [{"basicAuth": []}, {"bearerAuth": []}]
    for (path, method), op in operations().items():
        public = op.get("security") == []
        assert public == _public(path), (path, method)
        responses = op["responses"]
        if public:
            assert "401" not in responses, (path, method)
        else:
            assert responses["401"] == {"$ref": "#/components/responses/Unauthorized"}, (path, method)
            assert responses["503"] == {"$ref": "#/components/responses/StoreUnavailable"}, (path, method)
        assert responses["500"] == {"$ref": "#/components/responses/InternalError"}, (path, method)


def test_security_schemes_and_challenge() -> None:
    schemes = {name: (s["type"], s["scheme"]) for name, s in DOC["components"]["securitySchemes"].items()}
    assert schemes == {"basicAuth": ("http", "basic"), "bearerAuth": ("http", "bearer")}
    assert auth.CHALLENGE in DOC["components"]["headers"]["WWW-Authenticate"]["description"]


def test_operations_with_a_body_declare_it_and_413() -> None:
    for (path, method), op in operations().items():
        has_body = "requestBody" in op
        assert has_body == (method in ("post", "put")), (path, method)
        assert ("413" in op["responses"]) == has_body, (path, method)


# -- what the code checks, the document says ----------------------------------------------


def _parameter(path: str, method: str, name: str) -> dict[str, Any]:
    op = DOC["paths"][path][method]
    [param] = [p for p in map(resolved, op.get("parameters", [])) if p["name"] == name]
    return param


def test_parameters_mirror_the_checks_of_the_handlers() -> None:
    component_id = _parameter("/v1/components/{component_id}", "get", "component_id")
    assert component_id["schema"]["pattern"] == CONNECTOR_ID_PATTERN

    key = _parameter("/v1/exec/schedule", "post", "Idempotency-Key")
    documented = re.compile(key["schema"]["pattern"])
    for candidate in [chr(c) for c in range(256)] + ["a" * 255, "a" * 256, "", "order 42", "order-42"]:
        expected = executions.IDEMPOTENCY_KEY.fullmatch(candidate) is not None
        assert (documented.fullmatch(candidate) is not None) == expected, repr(candidate)

    limit = _parameter("/v1/accounts", "get", "limit")["schema"]
    assert (limit["minimum"], limit["maximum"]) == (1, accounts.MAX_PAGE)


def _bare(schema: Any) -> Any:
    """A schema without its annotations (title, description, examples): what is compared."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("title", "description", "examples"):
            continue
        if key == "properties":
            out[key] = {name: _bare(s) for name, s in value.items()}
        elif key in ("anyOf", "oneOf", "allOf"):
            out[key] = [_bare(s) for s in value]
        elif key in ("items", "additionalProperties"):
            out[key] = _bare(value)
        else:
            out[key] = value
    return out


def test_schemas_mirror_the_structs_field_by_field() -> None:
    """A field added to, removed from or retyped in a request or result Struct fails here
    until the document says so too."""
    _, generated = msgspec.json.schema_components(
        [ScheduleRequest, ConnectorInfo, VerifyResult, SelectResult, MetaModel, AccountBody, AccountView],
        ref_template="#/components/schemas/{name}",
    )
    documented = DOC["components"]["schemas"]
    renamed = {"AccountView": "Account", "ConnectorInfo": "Component"}
    for name, schema in generated.items():
        ours = _bare(documented[renamed.get(name, name)])
        if name == "ConnectorInfo":  # the API adds where the connector came from
            ours["properties"] = {k: v for k, v in ours["properties"].items() if k != "origin"}
            ours["required"] = [r for r in ours["required"] if r != "origin"]
        assert ours == _bare(schema), name


# -- (d) examples, and seed 001's bodies, match the schemas -------------------------------


def _media_types() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for (path, method), op in operations().items():
        if "requestBody" in op:
            found.append(
                (
                    pointer("paths", path, method, "requestBody", "content", "application/json"),
                    op["requestBody"]["content"]["application/json"],
                )
            )
        for status, response in op["responses"].items():
            for media, content in response.get("content", {}).items():
                found.append((pointer("paths", path, method, "responses", status, "content", media), content))
    for name, response in DOC["components"]["responses"].items():
        for media, content in response.get("content", {}).items():
            found.append((pointer("components", "responses", name, "content", media), content))
    return found


def test_every_example_matches_its_schema() -> None:
    checked = 0
    for location, content in _media_types():
        check = validator(location + "/schema")
        for name, example in content.get("examples", {}).items():
            errors = [e.message for e in check.iter_errors(example["value"])]
            assert not errors, (location, name, errors)
            checked += 1
    assert checked >= 40


#: Seed 001's tables: (path, method, status, body). Its loose examples disagree with its
#: tables in two places ("Result is not ready yet", "Result does not exist" without the
#: period); the tables are what the code sends.
SEED_001 = [
    ("/v1/exec/poll/{execution_id}", "get", "500", {"message": "Internal Server Error"}),
    ("/v1/exec/poll/{execution_id}", "get", "404", {"message": "Result does not exist."}),
    ("/v1/exec/poll/{execution_id}", "get", "404", {"message": "Expired."}),
    ("/v1/exec/poll/{execution_id}", "get", "200", {"message": "Result not ready yet."}),
    ("/v1/exec/poll/{execution_id}", "get", "303", {"message": "Ready."}),
    ("/v1/exec/result/{execution_id}", "get", "500", {"message": "Internal Server Error"}),
    ("/v1/exec/result/{execution_id}", "get", "404", {"message": "Result does not exist."}),
    (
        "/v1/exec/result/{execution_id}",
        "get",
        "400",
        {"message": "Rejected.", "reason": {"kind": "rejected", "error_type": "ValueError", "message": "no"}},
    ),
    # seed 001's data is {"some": "value"}: here, what verify_credentials answers
    ("/v1/exec/result/{execution_id}", "get", "200", {"data": {"verified": True}}),
    (
        "/v1/exec/schedule",
        "post",
        "requestBody",
        {
            "execution_type": "get_meta_model",
            "action_or_trigger": "put",
            "component": "{CONNECTOR_ID}",
            "account_id": "{ACCOUNT_ID}",
        },
    ),
]


@pytest.mark.parametrize(("path", "method", "status", "body"), SEED_001)
def test_seed_001_bodies_match_the_schemas(path: str, method: str, status: str, body: Any) -> None:
    if status == "requestBody":
        ref = pointer("paths", path, method, "requestBody", "content", "application/json", "schema")
    else:
        ref = response_schema_ref(path, method, status)
    errors = [e.message for e in validator(ref).iter_errors(body)]
    assert not errors


def test_seed_001_schedule_answer_is_extended_not_changed() -> None:
    """Seed 001 answers 202 ``{"message": "ok"}``; the document adds the id, nothing else."""
    scheduled = DOC["components"]["schemas"]["Scheduled"]["properties"]
    assert scheduled["message"] == {"const": "ok"} and set(scheduled) == {"message", "id"}
    headers = DOC["paths"]["/v1/exec/schedule"]["post"]["responses"]["202"]["headers"]
    assert headers["Location"]["required"] is True
