"""api/openapi.json: valid OpenAPI 3.1, one operation per route (both ways), public exactly
where the auth middleware lets callers in, request/response Structs mirrored field by field,
and its examples (and seeds 001, 003 and 004's bodies) valid against its own schemas.

Responses of the running server are checked against it in tests/integration/test_openapi.py.
"""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import connectord
from connectord.api import accounts, auth, errors, executions, job_views, jobs, openapi, process
from connectord.api.job_views import PROCESS_STATUS
from connectord.api.routes import ROUTES
from connectord.plugins.types import (
    CONNECTOR_ID_PATTERN,
    ConnectorInfo,
    JobType,
    MetaModel,
    SelectResult,
    VerifyResult,
)
from connectord.runtime.executions.requests import REQUIRED, ScheduleRequest
from connectord.runtime.jobs.definitions import DefinitionSpec
from connectord.runtime.store.records import EXECUTION_STATUSES, DefinitionState, JobStatus
from connectord.sandbox.calls import METHODS as SANDBOX_METHODS

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
    routed = {(_template(route.path), route.method.lower()) for route in ROUTES}  # type: ignore[attr-defined]
    documented = set(operations())
    assert not routed - documented, f"routes missing from api/openapi.json: {sorted(routed - documented)}"
    assert not documented - routed, f"documented but not routed: {sorted(documented - routed)}"


def _template(path: str) -> str:
    """A route's path as the document writes it: ``{name:regex}`` is ``{name}``."""
    return re.sub(r"{(\w+):[^}]*}", r"{\1}", path)


def test_the_cancel_route_refuses_what_the_document_excludes() -> None:
    [cancel] = [r for r in ROUTES if r.method == "DELETE" and r.path.startswith("/v1/exec/")]  # type: ignore[attr-defined]
    pattern = re.fullmatch(r"/v1/exec/{execution_id:(.*)}", cancel.path).group(1)  # type: ignore[attr-defined,union-attr]
    [param] = [p for p in DOC["paths"]["/v1/exec/{execution_id}"]["delete"]["parameters"] if "name" in p]
    assert param["schema"]["not"] == {"const": "schedule"}
    for candidate in ("schedule", "0f3c", "schedules", "x-schedule"):
        assert (re.fullmatch(pattern, candidate) is None) == (candidate == "schedule"), candidate


def test_path_parameters_are_declared_for_every_operation() -> None:
    for (path, method), op in operations().items():
        declared = {
            p["name"]
            for p in map(resolved, [*DOC["paths"][path].get("parameters", []), *op.get("parameters", [])])
            if p["in"] == "path"
        }
        assert declared == set(re.findall(r"{(\w+)}", path)), (path, method)


def _public(path: str, method: str) -> bool:
    """The auth middleware's rule, applied to a concrete path of the template."""
    concrete = re.sub(r"{\w+}", "x", path)
    public_path = concrete in auth.PUBLIC_PATHS or concrete.startswith(auth.PUBLIC_PREFIXES)
    return method.upper() in auth.PUBLIC_METHODS and public_path


def test_public_exactly_where_the_auth_middleware_lets_callers_in() -> None:
    assert DOC["security"] == [{"basicAuth": []}, {"bearerAuth": []}]
    for (path, method), op in operations().items():
        public = op.get("security") == []
        assert public == _public(path, method), (path, method)
        responses = op["responses"]
        if public:
            # /metrics asks for a token of its own when one is configured, not an API key
            assert ("401" in responses) == (path == "/metrics"), (path, method)
        else:
            assert responses["401"] == {"$ref": "#/components/responses/Unauthorized"}, (path, method)
            assert responses["503"] == {"$ref": "#/components/responses/StoreUnavailable"}, (path, method)
        assert responses["500"] == {"$ref": "#/components/responses/InternalError"}, (path, method)


def test_security_schemes_and_challenge() -> None:
    schemes = {name: (s["type"], s["scheme"]) for name, s in DOC["components"]["securitySchemes"].items()}
    assert schemes == {"basicAuth": ("http", "basic"), "bearerAuth": ("http", "bearer")}
    assert errors.CHALLENGE in DOC["components"]["headers"]["WWW-Authenticate"]["description"]


#: POST actions whose handlers read no body: a body is ignored, however large (no 413).
BODYLESS = {
    ("/v1/job-definitions/{code}/_start", "post"),
    ("/v1/job-definitions/{code}/_stop", "post"),
    ("/v1/accounts/{account_id}/_verify", "post"),
    ("/v1/components/_reload", "post"),
}


def test_operations_with_a_body_declare_it_and_413() -> None:
    for (path, method), op in operations().items():
        has_body = "requestBody" in op
        reads_body = method in ("post", "put", "patch") and (path, method) not in BODYLESS
        assert has_body == reads_body, (path, method)
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

    for path, most in [
        ("/v1/job-definitions", jobs.MAX_PAGE),
        ("/v1/jobs", jobs.MAX_PAGE),
        ("/v1/exec", executions.MAX_PAGE),
    ]:
        limit = _parameter(path, "get", "limit")["schema"]
        assert (limit["minimum"], limit["maximum"]) == (1, most), path
    n = _parameter("/v1/job-definitions/{code}/next", "get", "n")["schema"]
    assert (n["minimum"], n["maximum"]) == (1, jobs.MAX_NEXT)
    wait = _parameter("/v1/jobs/{job_id}", "get", "wait")
    # the bound is the server's max_poll_wait (configurable), as for polling executions
    assert wait["schema"]["minimum"] == 0 and "maximum" not in wait["schema"]
    assert "max_poll_wait" in wait["description"]
    status = resolved(_parameter("/v1/jobs", "get", "status")["schema"])
    assert status["enum"] == list(jobs.STATUSES)
    status = _parameter("/v1/exec", "get", "status")["schema"]
    assert status["enum"] == list(EXECUTION_STATUSES)
    kind = _parameter("/v1/exec", "get", "execution_type")["schema"]
    assert kind["enum"] == list(SANDBOX_METHODS)


def test_enums_mirror_the_code() -> None:
    schemas = DOC["components"]["schemas"]
    assert schemas["JobStatus"]["enum"] == list(typing.get_args(JobStatus))
    assert schemas["JobDefinition"]["properties"]["state"]["enum"] == list(typing.get_args(DefinitionState))
    documented = schemas["ProcessStatus"]["properties"]["status"]["enum"]
    assert set(documented) == set(PROCESS_STATUS.values()) == set(process.MESSAGES)


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


#: The document's names of Structs whose own names would be vague (or taken) there.
RENAMED = {
    "AccountView": "Account",
    "ConnectorInfo": "Component",
    "JobType": "ComponentJobType",  # JobType is the camelCase view of GET /v1/job-types
    "DefinitionSpec": "JobDefinitionSpec",
    "Options": "JobDefinitionOptions",
    "Webhooks": "JobDefinitionWebhooks",
    "ExecuteBody": "JobTypeExecuteBody",
}
#: Fields the document types more precisely than the Struct does (a dict checked by the
#: handler): (Struct, field) -> what stands for the Struct's ``{"type": "object"}``.
NARROWED = {("DefinitionSpec", "schedule"): {"$ref": "#/components/schemas/Schedule"}}


def _renamed(schema: Any, old: Any = None, new: Any = None) -> Any:
    """The schema with its references renamed as RENAMED says (and ``old`` replaced by ``new``)."""
    if old is not None and schema == old:
        return new
    if isinstance(schema, dict):
        if "$ref" in schema:
            name = schema["$ref"].removeprefix("#/components/schemas/")
            return {**schema, "$ref": "#/components/schemas/" + RENAMED.get(name, name)}
        return {key: _renamed(value, old, new) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_renamed(value, old, new) for value in schema]
    return schema


def test_schemas_mirror_the_structs_field_by_field() -> None:
    """A field added to, removed from or retyped in a request or result Struct fails here
    until the document says so too."""
    _, generated = msgspec.json.schema_components(
        [
            ScheduleRequest,
            ConnectorInfo,
            VerifyResult,
            SelectResult,
            MetaModel,
            accounts.AccountBody,
            accounts.AccountView,
            DefinitionSpec,
            jobs.ExecuteBody,
            process.ProcessStart,
        ],
        ref_template="#/components/schemas/{name}",
    )
    assert {"JobType", "Options", "Webhooks"} <= set(generated)
    documented = DOC["components"]["schemas"]
    for name, schema in generated.items():
        ours = _bare(documented[RENAMED.get(name, name)])
        if name == "ConnectorInfo":  # the API adds where the connector came from
            ours["properties"] = {k: v for k, v in ours["properties"].items() if k != "origin"}
            ours["required"] = [r for r in ours["required"] if r != "origin"]
        expected = _renamed(_bare(schema))
        for (struct, field_name), narrower in NARROWED.items():
            if struct == name:
                prop = expected["properties"][field_name]
                expected["properties"][field_name] = _renamed(prop, {"type": "object"}, narrower)
        assert ours == expected, name


def test_the_definition_view_and_patch_have_the_specs_fields() -> None:
    """The answer is the spec with every field filled in, plus the bound component and the
    state; a PATCH may give any field of the spec (the whole result is then checked as the
    spec)."""
    schemas = DOC["components"]["schemas"]
    spec_fields = list(schemas["JobDefinitionSpec"]["properties"])
    view = schemas["JobDefinition"]
    extra = ["component", "state", "nextFireTime", "createdAt", "updatedAt"]
    assert list(view["properties"]) == spec_fields + extra
    assert view["required"] == spec_fields + extra
    for name in spec_fields:  # the spec's own schema of each field
        spec_field = {"$ref": f"#/components/schemas/JobDefinitionSpec/properties/{name}"}
        assert resolved(view["properties"][name]) is resolved(spec_field), name
    changes = schemas["JobDefinitionPatch"]["properties"]["jobDefinition"]["properties"]
    assert list(changes) == spec_fields


def test_job_type_and_process_status_views_match_their_schemas() -> None:
    view = job_views.job_type_view("tiny", JobType(code="ping", title="Ping"))
    assert not [e.message for e in validator("#/components/schemas/JobType").iter_errors(view)]
    status = validator("#/components/schemas/ProcessStatus")
    for body in (process.status_body(None, 1_800_000_000.0), process.status_body(None, None)):
        assert not [e.message for e in status.iter_errors(body)], body


# -- (d) examples, and the seeds' bodies, match the schemas -------------------------------


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


#: Seeds 003's and 004's bodies, as they write them (their comments left out).
SEED_003_004 = [
    (
        "/v1/job-types/{code}/_execute",
        "post",
        "requestBody",
        {
            "params": {
                "url": "https://api.example.com/_query_",
                "method": "POST",
                "headers": {"Content-Type": "application/json"},
                "body": {"searchTerms": "running shoe"},
                "searchParams": {"limit": 10},
            }
        },
    ),
    (
        "/v1/job-types/{code}/_execute",
        "post",
        "202",
        {"jobId": "20240302-f3eb6180-9fc0-43c6-9fe3-528cc4981f2c"},
    ),
    (
        "/v1/job-definitions",
        "post",
        "requestBody",
        {
            "jobDefinition": {
                "jobDefinitionCode": "web-test",
                "jobType": "callWebserviceEndpoint",
                "name": "Call My favourite webservice",
                "schedule": {"cron": "* * * * *"},
                "params": {
                    "url": "https://jsonplaceholder.typicode.com/posts",
                    "method": "GET",
                    "headers": {"Content-Type": "application/json"},
                },
                "options": {
                    "skipNotification": True,
                    "sendCompletionEmail": True,
                    "sendFailureEmail": True,
                    "emailList": ["{{email address}}"],
                },
            }
        },
    ),
    (
        "/v1/job-definitions/{code}",
        "patch",
        "requestBody",
        {
            "jobDefinition": {
                "jobDefinitionCode": "web-test",
                "jobType": "callWebserviceEndpoint",
                "name": "My new name",
                "schedule": {"cron": "*/5 * * * *"},
                "params": {
                    "url": "https://jsonplaceholder.typicode.com/posts",
                    "method": "GET",
                    "headers": {"Content-Type": "application/json"},
                },
            }
        },
    ),
    ("/v1/job-definitions/{code}/_execute", "post", "requestBody", {}),
    (
        "/v1/job-definitions/{code}/_execute",
        "post",
        "202",
        {"jobId": "20240302-f3eb6180-9fc0-43c6-9fe3-528cc4981f2c"},
    ),
    (
        "/scheduler/connector-API/process/start",
        "post",
        "requestBody",
        {
            "values": {"username": "User Surname"},  # the document repeats the key; the last wins
            "quartzDef": "0 6 6 ? * FR",
            "startDate": "2020-11-16 16:56:00",
            "endDate": "2020-11-18 16:55:00",
            "runOnce": "N",
            "run immediately": "N,",
            "retryCount": "1",
            "name": "OneStepNotepadRunner",
        },
    ),
    (
        "/scheduler/connector-API/process/start",
        "post",
        "200",
        {"robustaSpid": "f0d2228c-9711-42f5-91ca-afc957f29255", "message": "Process saved"},
    ),
    # seed 004's status answer, with the run's jobId that the document adds
    (
        "/scheduler/connector-api/process/status/{spid}",
        "get",
        "200",
        {
            "status": "SUCCEEDED",
            "message": "Your transaction has ended.",
            "__out_x": "Username Surname",
            "jobId": "20240302-f3eb6180-9fc0-43c6-9fe3-528cc4981f2c",
        },
    ),
]


@pytest.mark.parametrize(("path", "method", "status", "body"), SEED_001 + SEED_003_004)
def test_seed_bodies_match_the_schemas(path: str, method: str, status: str, body: Any) -> None:
    if status == "requestBody":
        ref = pointer("paths", path, method, "requestBody", "content", "application/json", "schema")
    else:
        ref = response_schema_ref(path, method, status)
    errors = [e.message for e in validator(ref).iter_errors(body)]
    assert not errors


def test_seed_003_job_statuses_are_documented() -> None:
    assert {"STARTED", "COMPLETED", "FAILED"} <= set(DOC["components"]["schemas"]["JobStatus"]["enum"])


def test_seed_004_status_answer_is_extended_not_changed() -> None:
    """Seed 004 answers ``status``, ``message`` and ``__out_*``; the document adds the run's
    ``jobId`` (or, before any run, ``nextFireTime``), nothing else."""
    schema = DOC["components"]["schemas"]["ProcessStatus"]
    assert set(schema["properties"]) == {"status", "message", "jobId", "nextFireTime"}
    assert list(schema["patternProperties"]) == ["^__out_"]
    assert schema["additionalProperties"] is False


def test_seed_001_schedule_answer_is_extended_not_changed() -> None:
    """Seed 001 answers 202 ``{"message": "ok"}``; the document adds the id, nothing else."""
    scheduled = DOC["components"]["schemas"]["Scheduled"]["properties"]
    assert scheduled["message"] == {"const": "ok"} and set(scheduled) == {"message", "id"}
    headers = DOC["paths"]["/v1/exec/schedule"]["post"]["responses"]["202"]["headers"]
    assert headers["Location"]["required"] is True


def test_the_schedule_body_requires_what_each_execution_type_needs() -> None:
    """Seed 001's table (``REQUIRED``), as if/then rules of the request body's schema."""
    body = DOC["paths"]["/v1/exec/schedule"]["post"]["requestBody"]["content"]["application/json"]
    rules = {
        rule["if"]["properties"]["execution_type"]["const"]: rule["then"]["required"]
        for rule in body["schema"]["allOf"][1:]
    }
    assert rules == {kind: list(names) for kind, names in REQUIRED.items()}
    check = validator(pointer("paths", "/v1/exec/schedule", "post", "requestBody", "content",
                              "application/json", "schema"))  # fmt: skip
    assert not check.is_valid({"execution_type": "get_meta_model", "component": "sql", "account_id": "a"})
    assert not check.is_valid(
        {"execution_type": "get_meta_model", "component": "sql", "account_id": "a", "action_or_trigger": ""}
    )
    assert check.is_valid(
        {"execution_type": "get_meta_model", "component": "sql", "account_id": "a", "action_or_trigger": "x"}
    )
