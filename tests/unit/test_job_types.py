"""Job types: how connectors declare them, how the loader checks them, and how a run_job
call is checked, run and redacted in this process (the sandbox runs it the same way)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

import connectord
from connectord.plugins.manager import (
    HookNotImplementedError,
    PluginSource,
    Selection,
    load_connectors,
)
from connectord.plugins.secret_marks import bad_secret_mark, marked_values
from connectord.plugins.types import JobType
from connectord.runtime.calls import InvalidCallError, check_call, params_problem, redactor_for, run_call
from connectord.sandbox.calls import Call
from connectord.sandbox.outcomes import Rejected, Succeeded
from connectord.sandbox.policy import ConnectorPolicy
from connectord.sandbox.redact import MASK, url_passwords

ONLY_EXTRA = Selection(builtins=False, entry_points=False)
TOKEN = "tok-param-secret-77"
API_KEY = "key-account-secret-55"

SEND = JobType(
    code="send.Mail-1",
    title="Send mail",
    params_schema={
        "type": "object",
        "required": ["to"],
        "properties": {
            "to": {"type": "string", "pattern": "@"},
            "token": {"type": "string", "secret": True},
            "headers": {
                "type": "object",
                "secret": True,
                "properties": {"Accept": {"type": "string", "secret": False}},
                "additionalProperties": {"type": "string"},
            },
            "retries": {"type": "integer", "minimum": 0, "maximum": 5},
        },
        "additionalProperties": False,
    },
)
SYNC = JobType(code="sync", title="Sync", needs_account=True)


class Mailer:
    """A connector with two job types; ``behaviour`` decides what run_job does."""

    def __init__(self, connector_id: str = "mailer", job_types: list[JobType] | None = None) -> None:
        self.connector_id = connector_id
        self.job_types = [SEND, SYNC] if job_types is None else job_types
        self.seen: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self.behaviour: Any = None

    @connectord.hookimpl
    def describe_connector(self) -> connectord.ConnectorInfo:
        return connectord.ConnectorInfo(
            id=self.connector_id,
            title="Mailer",
            version="1",
            credentials_schema={
                "type": "object",
                "required": ["api_key"],
                "properties": {"api_key": {"type": "string", "secret": True}},
            },
            job_types=self.job_types,
        )

    @connectord.hookimpl
    def run_job(self, job_type: str, params: dict[str, Any], credentials: dict[str, Any]) -> Any:
        self.seen.append((job_type, params, credentials))
        if self.behaviour is not None:
            return self.behaviour(params)
        return connectord.JobResult(data={"sent": params.get("to")}, outputs={"count": 1})


class NoRunJob:
    @connectord.hookimpl
    def describe_connector(self) -> dict[str, Any]:
        return {"id": "lazy", "title": "Lazy", "version": "1", "job_types": [{"code": "x", "title": "X"}]}


def source(name: str, plugin: object) -> PluginSource:
    return PluginSource(name, f"test {name}", lambda: plugin)


@pytest.fixture
def mailer() -> Mailer:
    return Mailer()


@pytest.fixture
def registry(mailer: Mailer) -> Any:
    registry = load_connectors(ONLY_EXTRA, [source("mailer", mailer)])
    assert registry.errors == []
    return registry


def job(code: str = SEND.code, **kwargs: Any) -> Call:
    return Call(connector="mailer", method="run_job", action=code, **kwargs)


# --- the types ----------------------------------------------------------------------------


def test_the_public_api_exports_the_job_types() -> None:
    assert connectord.JobType is JobType
    assert "JobResult" in connectord.__all__ and "JobType" in connectord.__all__


def test_job_type_and_job_result_defaults() -> None:
    bare = JobType(code="c", title="C")
    assert (bare.description, bare.needs_account) == ("", False)
    assert bare.params_schema == {"type": "object", "properties": {}}
    assert msgspec.to_builtins(bare) == {"code": "c", "title": "C", "params_schema": bare.params_schema}
    # a job result always carries both keys, so a scheduler can read outputs blindly
    assert msgspec.to_builtins(connectord.JobResult()) == {"data": None, "outputs": {}}


def test_connector_info_lists_and_finds_its_job_types() -> None:
    info = connectord.ConnectorInfo(id="m", title="M", version="1", job_types=[SEND, SYNC])
    assert info.job_type("sync") is SYNC and info.job_type("nope") is None
    assert "job_types" not in msgspec.to_builtins(connectord.ConnectorInfo(id="m", title="M", version="1"))
    decoded = msgspec.convert(msgspec.to_builtins(info), connectord.ConnectorInfo)
    assert decoded.job_types == [SEND, SYNC]


# --- descriptor and loader ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("job_types", "reason"),
    [
        ([{"code": "1st", "title": "T"}], "job type code '1st' must match"),
        ([{"code": "a b", "title": "T"}], "job type code 'a b' must match"),
        ([{"code": "x" * 129, "title": "T"}], "must match"),
        ([{"code": "a", "title": "A"}, {"code": "a", "title": "B"}], "job type 'a' is declared twice"),
        ([{"code": "a", "title": " "}], "job type 'a': 'title' must not be empty"),
        (
            [{"code": "a", "title": "A", "params_schema": {"type": "nope"}}],
            "job type 'a': params_schema is not a valid JSON schema",
        ),
        (
            [{"code": "a", "title": "A", "params_schema": {"type": "array"}}],
            'job type \'a\': params_schema must have "type": "object"',
        ),
        (
            [
                {
                    "code": "a",
                    "title": "A",
                    "params_schema": {
                        "type": "object",
                        "properties": {"h": {"type": "object", "additionalProperties": {"secret": "yes"}}},
                    },
                }
            ],
            "params_schema at properties.h.additionalProperties: 'secret' must be true or false",
        ),
        ([{"code": "a", "title": "A", "colour": "red"}], "unknown field `colour`"),
    ],
)
def test_a_wrong_job_type_is_reported_with_the_reason(job_types: list[dict[str, Any]], reason: str) -> None:
    class Bad:
        @connectord.hookimpl
        def describe_connector(self) -> dict[str, Any]:
            return {"id": "bad", "title": "Bad", "version": "1", "job_types": job_types}

        @connectord.hookimpl
        def run_job(self, job_type: str) -> None:
            return None

    registry = load_connectors(ONLY_EXTRA, [source("bad", Bad())])
    assert registry.connectors == {}
    [error] = registry.errors
    assert reason in error.reason


def test_job_types_need_the_run_job_hook() -> None:
    registry = load_connectors(ONLY_EXTRA, [source("lazy", NoRunJob())])
    [error] = registry.errors
    assert error.reason == "its job types need run_job but it implements none"


def test_a_job_type_code_claimed_twice_fails_the_later_connector_only() -> None:
    first, second = Mailer("first"), Mailer("second", [JobType(code="other", title="O"), SEND])
    registry = load_connectors(ONLY_EXTRA, [source("first", first), source("second", second)])
    assert list(registry.connectors) == ["first"]
    [error] = registry.errors
    assert error.name == "second"
    assert error.reason == (
        f"job type '{SEND.code}' is already offered by connector 'first' (test first); "
        "job type codes must be unique across installed connectors"
    )
    assert second not in registry.pm.get_plugins()  # it can never be called
    assert registry.job_type("other") is None


def test_job_types_are_found_by_code_in_the_registry_and_the_catalog() -> None:
    registry = load_connectors(
        ONLY_EXTRA,
        [source("mailer", Mailer()), source("zeta", Mailer("zeta", [JobType(code="alpha", title="A")]))],
    )
    catalog = msgspec.msgpack.decode(
        msgspec.msgpack.encode(registry.catalog()), type=type(registry.catalog())
    )
    for lookup in (registry, catalog):
        assert lookup.job_type("sync") == ("mailer", SYNC)
        assert lookup.job_type("alpha") == ("zeta", JobType(code="alpha", title="A"))
        assert lookup.job_type("Sync") is None  # codes are case-sensitive
        assert [(c, t.code) for c, t in lookup.job_types()] == [
            ("zeta", "alpha"),
            ("mailer", SEND.code),
            ("mailer", "sync"),
        ]
    assert "run_job" in catalog.get("mailer").hooks


# --- secret marks ---------------------------------------------------------------------------


def test_secret_marks_cover_values_below_them_except_where_unmarked() -> None:
    params = {
        "to": "ann@example.com",
        "token": TOKEN,
        "headers": {"Authorization": "Bearer abc-123", "Accept": "application/json", "X-N": ["n-1", 2]},
    }
    assert sorted(marked_values(SEND.params_schema, params)) == sorted([TOKEN, "Bearer abc-123", "n-1"])
    assert marked_values(SEND.params_schema, {"to": "x@y"}) == []
    # wherever a value is not what the schema expects, a mark still holds over all of it
    assert marked_values({"type": "object", "properties": {"t": {"secret": True}}}, {"t": {"a": ["s3"]}}) == [
        "s3"
    ]


def test_secret_marks_follow_items_prefix_items_and_pattern_properties() -> None:
    schema = {
        "type": "object",
        "properties": {
            "pairs": {"type": "array", "prefixItems": [{"type": "string"}, {"secret": True}]},
            "keys": {"type": "array", "items": {"type": "string", "secret": True}},
        },
        "patternProperties": {"^pw_": {"secret": True}},
    }
    params = {"pairs": ["name", "hidden"], "keys": ["k1", "k2"], "pw_db": "pw-value", "other": "plain"}
    assert sorted(marked_values(schema, params)) == ["hidden", "k1", "k2", "pw-value"]
    assert bad_secret_mark(schema) is None
    assert bad_secret_mark({"type": "object", "properties": {"secret": {"type": "string"}}}) is None
    assert bad_secret_mark({"properties": {"p": {"items": {"secret": 1}}}}) == "properties.p.items"


def test_url_passwords_are_found_in_any_string() -> None:
    params = {"url": "https://bob:p%40ss-word@api.example.com/x", "more": ["ftp://tok3n-only@host/"]}
    assert url_passwords(params) == ["bob:p%40ss-word", "p@ss-word", "tok3n-only", "tok3n-only"]
    assert url_passwords({"url": "https://api.example.com/a@b"}) == []


# --- params_problem -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message", "field"),
    [
        ({}, "parameter 'to' of job type 'send.Mail-1' is required", "params.to"),
        ({"to": 5}, "parameter 'to' of job type 'send.Mail-1' fails 'type': expected string", "params.to"),
        (
            {"to": "nobody"},
            "parameter 'to' of job type 'send.Mail-1' fails 'pattern': expected @",
            "params.to",
        ),
        (
            {"to": "a@b", "cc": "c@d"},
            "parameter 'cc' of job type 'send.Mail-1' is not a known parameter",
            "params.cc",
        ),
        (
            {"to": "a@b", "headers": {"Accept": 1}},
            "parameter 'headers.Accept' of job type 'send.Mail-1' fails 'type': expected string",
            "params.headers.Accept",
        ),
        (
            {"to": "a@b", "retries": 9},
            "parameter 'retries' of job type 'send.Mail-1' fails 'maximum': expected 5",
            "params.retries",
        ),
    ],
)
def test_params_problem_names_the_field_and_the_rule(
    params: dict[str, Any], message: str, field: str
) -> None:
    assert params_problem(SEND, params) == (message, field)


def test_params_problem_of_params_that_are_not_an_object() -> None:
    assert params_problem(SEND, ["a@b"]) == ("params fails 'type': expected object", "params")  # type: ignore[arg-type]


def test_params_problem_never_echoes_a_value() -> None:
    bad = {"to": "a@b", "token": 12345678, "headers": {"Authorization": ["Bearer " + TOKEN]}}
    message, _ = params_problem(SEND, bad)  # type: ignore[misc]
    assert "12345678" not in message and TOKEN not in message
    problem = params_problem(SEND, {"to": TOKEN})
    assert problem is not None and TOKEN not in problem[0]


def test_params_problem_explains_a_forbidden_field_with_the_schemas_description() -> None:
    schema = {
        "type": "object",
        "properties": {"method": {"enum": ["GET", "POST"]}, "body": {}},
        "if": {"properties": {"method": {"const": "GET"}}},
        "then": {"not": {"required": ["body"]}, "description": "GET requests carry no body"},
    }
    job_type = JobType(code="req", title="Request", params_schema=schema)
    assert params_problem(job_type, {"method": "GET", "body": "x"}) == (
        "parameter 'body' of job type 'req' is not allowed here: GET requests carry no body",
        "params.body",
    )
    assert params_problem(job_type, {"method": "POST", "body": "x"}) is None


# --- checking and running a job --------------------------------------------------------------


def test_a_job_runs_with_its_params_and_no_credentials(registry: Any, mailer: Mailer) -> None:
    outcome = run_call(registry, job(cfg={"to": "ann@example.com"}))
    assert outcome == Succeeded({"data": {"sent": "ann@example.com"}, "outputs": {"count": 1}})
    assert mailer.seen == [(SEND.code, {"to": "ann@example.com"}, {})]


def test_a_job_that_needs_an_account_gets_checked_credentials(registry: Any, mailer: Mailer) -> None:
    outcome = run_call(registry, job("sync", credentials={"api_key": API_KEY}))
    assert isinstance(outcome, Succeeded)
    assert mailer.seen == [("sync", {}, {"api_key": API_KEY})]
    refused = run_call(registry, job("sync"))
    assert refused == Rejected("InvalidCredentials", "credential field 'api_key' is required", "api_key")
    assert len(mailer.seen) == 1


@pytest.mark.parametrize(
    ("call", "field", "message"),
    [
        (Call(connector="mailer", method="run_job"), "jobType", "run_job needs a job type"),
        (job("nope"), "jobType", "connector 'mailer' has no job type 'nope' (it has: send.Mail-1, sync)"),
        (job(cfg={"to": "x"}), "params.to", "parameter 'to' of job type 'send.Mail-1' fails 'pattern'"),
        (
            job(cfg={"to": "a@b"}, credentials={"api_key": API_KEY}),
            "credentials",
            "job type 'send.Mail-1' runs without an account: pass no credentials",
        ),
    ],
)
def test_bad_jobs_are_refused_before_anything_runs(
    registry: Any, mailer: Mailer, call: Call, field: str, message: str
) -> None:
    with pytest.raises(InvalidCallError) as info:
        run_call(registry, call)
    assert info.value.field == field
    assert message in str(info.value)
    # the catalog (what the server holds) refuses the same calls
    with pytest.raises(InvalidCallError):
        check_call(registry.catalog(), call)
    assert mailer.seen == []


def test_a_connector_without_run_job_is_refused() -> None:
    class DescribesOnly:
        @connectord.hookimpl
        def describe_connector(self) -> dict[str, Any]:
            return {"id": "plain", "title": "P", "version": "1"}

    registry = load_connectors(ONLY_EXTRA, [source("plain", DescribesOnly())])
    with pytest.raises(InvalidCallError, match="has no job type 'x' \\(it has: none\\)"):
        check_call(registry, Call(connector="plain", method="run_job", action="x"))


def test_the_hook_must_be_there_even_if_the_catalog_says_otherwise(registry: Any) -> None:
    catalog = registry.catalog()
    entry = catalog.get("mailer")
    stripped = msgspec.structs.replace(entry, hooks=entry.hooks - {"run_job"})
    catalog.connectors["mailer"] = stripped
    with pytest.raises(HookNotImplementedError):
        check_call(catalog, job(cfg={"to": "a@b"}))


@pytest.mark.parametrize(
    ("returned", "fragment"),
    [
        (None, "run_job returned nothing"),
        ({"data": 1, "outputs": []}, "returned an invalid JobResult: Expected `object`, got `array`"),
        ({"data": 1, "extra": 2}, "returned an invalid JobResult"),
        ({"data": object()}, "returned an invalid JobResult"),
    ],
)
def test_an_invalid_job_result_is_rejected(
    registry: Any, mailer: Mailer, returned: Any, fragment: str
) -> None:
    mailer.behaviour = lambda _params: returned
    outcome = run_call(registry, job(cfg={"to": "a@b"}))
    assert isinstance(outcome, Rejected) and outcome.error_type == "InvalidResult"
    assert fragment in outcome.message


def test_a_plain_dict_and_non_json_values_make_a_job_result(registry: Any, mailer: Mailer) -> None:
    import datetime
    import decimal

    mailer.behaviour = lambda _params: {
        "data": {"at": datetime.date(2024, 3, 2), "price": decimal.Decimal("9.90"), "raw": b"\x00\x01"},
    }
    outcome = run_call(registry, job(cfg={"to": "a@b"}))
    assert outcome == Succeeded({"data": {"at": "2024-03-02", "price": "9.90", "raw": "AAE="}, "outputs": {}})


def test_secret_params_are_redacted_from_a_rejection(registry: Any, mailer: Mailer) -> None:
    def leak(params: dict[str, Any]) -> None:
        raise RuntimeError(f"refused {params['token']} and {params['headers']}")

    mailer.behaviour = leak
    params = {
        "to": "a@b",
        "token": TOKEN,
        "headers": {"Authorization": "Bearer abc-123", "Accept": "text/csv"},
    }
    outcome = run_call(registry, job(cfg=params))
    assert isinstance(outcome, Rejected)
    assert TOKEN not in outcome.message and "abc-123" not in outcome.message
    assert outcome.message == f"refused {MASK} and {{'Authorization': '{MASK}', 'Accept': 'text/csv'}}"


def test_the_redactor_of_a_job_knows_credentials_secret_params_and_url_passwords() -> None:
    info = Mailer().describe_connector()
    call = job(
        "sync",
        credentials={"api_key": API_KEY},
        cfg={"token": TOKEN, "url": "https://u:url-pass-99@h/"},
    )
    redactor = redactor_for(info, call)
    text = f"{API_KEY} {TOKEN} url-pass-99 plain"
    # sync's schema marks nothing: only the credentials and the URL's password are secret
    assert redactor.text(text) == f"{MASK} {TOKEN} {MASK} plain"
    send = redactor_for(info, job(cfg={"to": "a@b", "token": TOKEN}))
    assert send.text(text) == f"{API_KEY} {MASK} url-pass-99 plain"
    # the same params in a design-time call are nothing special
    assert redactor_for(info, Call(connector="mailer", method="verify_credentials")).text(TOKEN) == TOKEN


def test_jobs_get_five_minutes_by_default_and_a_configured_deadline() -> None:
    assert ConnectorPolicy().timeout_for("run_job") == 300.0
    assert ConnectorPolicy(timeouts={"run_job": 900}).timeout_for("run_job") == 900
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"timeouts": {"run_jobs": 1}}, ConnectorPolicy)


def test_the_component_body_lists_the_job_types() -> None:
    from connectord.api.components import component_body
    from connectord.plugins.manager import CatalogEntry

    info = Mailer().describe_connector()
    body = component_body(CatalogEntry(info, "test mailer", frozenset({"run_job"})))
    assert body["job_types"] == [
        {"code": SEND.code, "title": "Send mail", "params_schema": SEND.params_schema},
        {"code": "sync", "title": "Sync", "params_schema": SYNC.params_schema, "needs_account": True},
    ]
    assert body["origin"] == "test mailer"
