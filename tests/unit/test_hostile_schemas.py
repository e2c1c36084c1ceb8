"""A connector's description is connector code's output too: the server checks every call's
credentials, configuration and job parameters against the schemas it describes, in its own
process, before any connector code runs. A ``pattern`` there is a regular expression the
server runs on a tenant's input."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable

import msgspec
import pytest

from connectord.plugins.descriptor import DescriptorError, check_descriptor
from connectord.plugins.manager import Catalog, CatalogEntry, PluginSource
from connectord.plugins.schema_cost import MAX_STEPS
from connectord.plugins.schema_patterns import unsupported_pattern, validator_class
from connectord.plugins.schema_refs import no_retrieval, outside_reference
from connectord.plugins.types import ConnectorInfo, JobType
from connectord.runtime.calls import UNCHECKABLE, credentials_problem, params_problem
from connectord.sandbox.supervisor import merged_catalog

#: Exponential backtracking in Python's ``re``: ``(a|aa)+`` tries every way to split the
#: run of "a" before the "!" refuses them all (about 1.5e12 ways for 60 of them).
CHECK = """
from connectord.plugins.types import ConnectorInfo
from connectord.runtime.calls import credentials_problem

schema = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^(a|aa)+$"}}}
info = ConnectorInfo(id="redos", title="ReDoS", version="1", credentials_schema=schema)
print(credentials_problem(info, {"name": "a" * 60 + "!"}))
"""


def test_a_pattern_of_a_connectors_schema_cannot_hang_the_server() -> None:
    # A bound for a hang, not a speed goal: the check takes microseconds, the hang hours.
    checked = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=10)
    assert "credential field 'name' fails 'pattern'" in checked.stdout, checked.stderr


SELF_REFERENCE = {"type": "object", "allOf": [{"$ref": "#"}]}


def test_a_schema_that_refers_to_itself_without_end_refuses_the_input() -> None:
    """Not a RecursionError, which the exec API turned into a traceback in the server's log
    per call and the accounts API into a 500."""
    info = ConnectorInfo(id="looper", title="Looper", version="1", credentials_schema=SELF_REFERENCE)
    assert credentials_problem(info, {"a": 1}) == (
        f"credential field 'credentials' {UNCHECKABLE}",
        "credentials",
    )
    job = JobType(code="loop", title="Loop", params_schema=SELF_REFERENCE)
    assert params_problem(job, {}) == (f"params {UNCHECKABLE}", "params")


#: The same through ``patternProperties``: a tenant's key is matched against a connector's
#: patterns by ``patternProperties``, ``additionalProperties`` (jsonschema's and the server's
#: own naming of an unknown key) and the secret marks of a job's params.
CHECK_KEYS = """
from connectord.plugins.secret_marks import marked_values
from connectord.plugins.types import ConnectorInfo, JobType
from connectord.runtime.calls import credentials_problem, params_problem

hostile = {"^(a|aa)+$": {"type": "string", "secret": True}}
schema = {"type": "object", "patternProperties": hostile, "additionalProperties": False}
info = ConnectorInfo(id="redos", title="ReDoS", version="1", credentials_schema=schema)
key = "a" * 60 + "!"
print(credentials_problem(info, {key: "x"}))
print(params_problem(JobType(code="redos", title="ReDoS", params_schema=schema), {key: "x"}))
print(marked_values(schema, {key: "x"}))
"""


def test_a_pattern_of_a_connectors_schema_cannot_hang_the_server_through_a_key() -> None:
    checked = subprocess.run([sys.executable, "-c", CHECK_KEYS], capture_output=True, text=True, timeout=10)
    assert checked.stdout.splitlines() == [
        f"(\"credential field '{'a' * 60}!' is not a known credential field\", '{'a' * 60}!')",
        f"(\"parameter '{'a' * 60}!' of job type 'redos' is not a known parameter\", 'params.{'a' * 60}!')",
        "[]",
    ], checked.stderr


LOOKAHEAD = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^(?=a)a+$"}}}


def test_a_pattern_that_cannot_be_matched_in_linear_time_is_a_load_failure() -> None:
    """Lookaround and backreferences need backtracking: refused when the connector is
    described, naming the schema, the place and the pattern."""
    raw = {"id": "ahead", "title": "Ahead", "version": "1", "credentials_schema": LOOKAHEAD}
    with pytest.raises(DescriptorError) as refused:
        check_descriptor(raw)
    assert str(refused.value).startswith(
        "credentials_schema is not a valid JSON schema: pattern '^(?=a)a+$' cannot be matched in linear time"
    )
    params = {"type": "object", "patternProperties": {r"(x)\1": {}}}
    job = {"code": "back", "title": "Back", "params_schema": params}
    with pytest.raises(DescriptorError, match=r"job type 'back': params_schema .*'\(x\)\\\\1' cannot be"):
        check_descriptor({**raw, "credentials_schema": {"type": "object"}, "job_types": [job]})


def test_the_server_refuses_a_description_its_connectors_own_process_let_through() -> None:
    """The description was checked in the connector's process, where its code runs first."""
    info = ConnectorInfo(id="ahead", title="Ahead", version="1", credentials_schema=LOOKAHEAD)
    source = PluginSource(name="ahead", origin="pkg", load=lambda: None, target="ahead")
    described = Catalog(connectors={"ahead": CatalogEntry(info, "pkg", frozenset())}, errors=[])
    merged = merged_catalog([source], [described])
    assert merged.connectors == {}
    [error] = merged.errors
    assert error.name == "ahead"
    assert error.reason.startswith(
        "invalid description: credentials_schema: properties.name.pattern: pattern '^(?=a)a+$' cannot be "
        "matched in linear time (RE2: invalid perl operator: (?=;"
    )
    # And a check that meets it all the same refuses the input, not the server.
    problem = credentials_problem(info, {"name": "a"})
    assert problem is not None
    message, field = problem
    assert field == "credentials"
    assert message.startswith("credential field 'credentials' cannot be checked: the connector's schema")


def test_unevaluated_properties_is_not_supported_with_or_without_pattern_properties() -> None:
    """jsonschema matches ``patternProperties`` with ``re`` for ``unevaluatedProperties``,
    and checks ``unevaluated*`` in time that grows with the square of the input (20,000
    keys under ``unevaluatedProperties: true``: 2.6 s of the server's loop)."""
    schema = {
        "type": "object",
        "allOf": [{"patternProperties": {"^x": {}}}],
        "unevaluatedProperties": False,
    }
    assert unsupported_pattern(schema) == (
        "it uses both unevaluatedProperties and patternProperties, which cannot be checked together"
    )
    raw = {"id": "both", "title": "Both", "version": "1", "credentials_schema": schema}
    with pytest.raises(
        DescriptorError, match=r"unevaluatedProperties: not supported \(checking it takes time"
    ):
        check_descriptor(raw)
    items = {
        "type": "object",
        "properties": {"ids": {"type": "array", "items": {}, "unevaluatedItems": False}},
    }
    with pytest.raises(DescriptorError, match=r"properties\.ids\.unevaluatedItems: not supported"):
        check_descriptor({**raw, "credentials_schema": items})


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("b", "abc", True),  # searched for, not anchored
        ("^b", "abc", False),
        ("^a$", "a\n", False),  # `$` ends the text, as in ECMA-262 (Python's `re` takes a final newline)
        (r"^\d+$", "\u0663", False),  # ASCII digits, as in ECMA-262
        (r"^\p{L}+$", "café", True),  # ECMA-262's Unicode property escapes, which Python's `re` lacks
    ],
)
def test_patterns_keep_the_semantics_of_json_schema(pattern: str, value: str, matches: bool) -> None:
    schema = {"type": "object", "properties": {"v": {"type": "string", "pattern": pattern}}}
    info = check_descriptor({"id": "sem", "title": "Sem", "version": "1", "credentials_schema": schema})
    assert (credentials_problem(info, {"v": value}) is None) is matches


#: A reference out of the schema, hidden where no keyword leads: ``#/x-hidden`` reaches it.
REMOTE = {
    "type": "object",
    "properties": {"token": {"$ref": "#/x-hidden"}},
    "x-hidden": {"allOf": [{"$ref": "http://127.0.0.1:9/token.json"}]},
}


def test_a_reference_outside_the_schema_is_a_load_failure_wherever_it_hides() -> None:
    raw = {"id": "referrer", "title": "Referrer", "version": "1", "credentials_schema": REMOTE}
    with pytest.raises(DescriptorError) as refused:
        check_descriptor(raw)
    assert "x-hidden.allOf.0.$ref: 'http://127.0.0.1:9/token.json' refers outside the schema" in str(
        refused.value
    )
    assert outside_reference({"$defs": {"a": {"$dynamicRef": "other.json#meta"}}}) == (
        "$defs.a.$dynamicRef: 'other.json#meta' refers outside the schema; only references within it "
        "('#...') are supported"
    )
    within = {"$defs": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/n"}}}
    assert outside_reference(within) is None
    assert outside_reference({"properties": {"$ref": {"type": "string"}}}) is None  # a field named so


def test_a_reference_is_never_fetched_and_one_that_does_not_resolve_refuses_the_input() -> None:
    """A description the server let through all the same (its check ran beside the
    connector's code): the input is refused, nothing is fetched, nothing raises."""
    info = ConnectorInfo(id="referrer", title="Referrer", version="1", credentials_schema=REMOTE)
    source = PluginSource(name="referrer", origin="pkg", load=lambda: None, target="referrer")
    described = Catalog(connectors={"referrer": CatalogEntry(info, "pkg", frozenset())}, errors=[])
    [error] = merged_catalog([source], [described]).errors
    assert "refers outside the schema" in error.reason
    message, field = credentials_problem(info, {"token": "t"}) or ("", "")
    assert field == "credentials" and "refers outside the schema" in message
    dangling = {"type": "object", "properties": {"token": {"$ref": "#/$defs/missing"}}}
    info = ConnectorInfo(id="dangler", title="Dangler", version="1", credentials_schema=dangling)
    message, field = credentials_problem(info, {"token": "t"}) or ("", "")
    assert field == "credentials"
    assert message.startswith("credential field 'credentials' cannot be checked: the connector's schema")
    assert "reference that does not resolve" in message


def test_a_validator_of_a_connectors_schema_fetches_nothing() -> None:
    """The second line: should a reference out of the schema reach a validator, it does not
    resolve; jsonschema's default fetched it with urlopen."""
    from referencing.exceptions import Unresolvable

    from connectord.runtime.calls import schema_validator

    schema = {"properties": {"token": {"$ref": "http://127.0.0.1:9/token.json"}}}
    validator = validator_class()(schema, registry=no_retrieval())
    with pytest.raises(Unresolvable, match=r"http://127\.0\.0\.1:9/token\.json"):
        list(validator.iter_errors({"token": "t"}))
    assert isinstance(schema_validator(msgspec.json.encode(schema)), str)  # refused before


def _ref_bomb(levels: int) -> dict[str, object]:
    """Each definition refers twice to the next: checking one value visits 2^levels."""
    defs: dict[str, object] = {
        f"d{i}": {"allOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"$ref": f"#/$defs/d{i + 1}"}]}
        for i in range(levels)
    }
    defs[f"d{levels}"] = {"type": "string"}
    return {"type": "object", "$defs": defs, "properties": {"token": {"$ref": "#/$defs/d0"}}}


def test_references_that_multiply_the_work_of_a_check_are_a_load_failure() -> None:
    """20 levels held the server's event loop for 20 s per input, for every tenant."""
    raw = {"id": "bomber", "title": "Bomber", "version": "1", "credentials_schema": _ref_bomb(20)}
    with pytest.raises(DescriptorError, match="its references multiply: checking one input would visit more"):
        check_descriptor(raw)
    info = ConnectorInfo(id="bomber", title="Bomber", version="1", credentials_schema=_ref_bomb(20))
    message, field = credentials_problem(info, {"token": "t"}) or ("", "")
    assert field == "credentials" and "its references multiply" in message
    # a recursive schema (a tree) follows its references once per level of the input
    tree = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
            }
        },
        "type": "object",
        "$ref": "#/$defs/node",
    }
    assert check_descriptor({**raw, "credentials_schema": tree}).credentials_schema == tree
    info = ConnectorInfo(id="tree", title="Tree", version="1", credentials_schema=tree)
    assert credentials_problem(info, {"kids": [{"kids": []}]}) is None
    assert credentials_problem(info, {"kids": [{"kids": 1}]}) is not None


@pytest.mark.parametrize(
    ("schema", "why"),
    [
        ({"$ref": "#anchor"}, "$ref: only JSON pointers within the schema"),
        ({"properties": {"a": {"$id": "urn:x", "type": "string"}}}, "properties.a.$id: an identifier below"),
        ({"$dynamicRef": "#meta"}, "$dynamicRef: dynamic references are not supported"),
    ],
)
def test_references_of_a_form_the_server_cannot_follow_are_a_load_failure(
    schema: dict[str, object], why: str
) -> None:
    raw = {"id": "former", "title": "Former", "version": "1", "credentials_schema": schema}
    with pytest.raises(DescriptorError, match=re.escape(why)):
        check_descriptor(raw)


@pytest.mark.parametrize(
    "schema",
    [
        {"properties": {"token": {"type": "bogus"}}},
        {"properties": {"token": {"multipleOf": 0}}},
        {"properties": {"token": {"$ref": 5}}},
    ],
)
def test_the_server_checks_a_received_description_is_a_valid_schema_and_no_input_meets_a_500(
    schema: dict[str, object],
) -> None:
    """A connector's import code can switch its own process's check off: the server checks
    again, and should such a schema reach a check all the same, the input is refused."""
    info = ConnectorInfo(id="broken", title="Broken", version="1", credentials_schema=schema)
    source = PluginSource(name="broken", origin="pkg", load=lambda: None, target="broken")
    described = Catalog(connectors={"broken": CatalogEntry(info, "pkg", frozenset())}, errors=[])
    [error] = merged_catalog([source], [described]).errors
    assert error.reason.startswith("invalid description: credentials_schema: ")
    message, field = credentials_problem(info, {"token": 3}) or ("", "")
    assert field == "credentials" and "cannot be checked" in message


def test_a_check_whose_work_grows_faster_than_its_input_is_cut_short_and_refuses_the_input() -> None:
    """References back to the root, twice per level: each level of the input doubled the
    work (17 levels, 90 bytes, held the server's loop 3.9 s). The schema is a fine one."""
    schema = {"type": "object", "properties": {"a": {"allOf": [{"$ref": "#"}, {"$ref": "#"}]}}}
    raw = {"id": "looper", "title": "Looper", "version": "1", "credentials_schema": schema}
    assert check_descriptor(raw).credentials_schema == schema
    info = ConnectorInfo(id="looper", title="Looper", version="1", credentials_schema=schema)
    deep: dict[str, object] = {}
    for _ in range(16):
        deep = {"a": deep}
    assert credentials_problem(info, deep) == (
        f"credential field 'credentials' cannot be checked against the connector's schema: checking it "
        f"would take more than {MAX_STEPS} steps",
        "credentials",
    )
    assert credentials_problem(info, {"a": {"a": {}}}) is None  # a shallow one is checked


def test_unique_items_is_checked_in_linear_time_as_json_schema_has_it() -> None:
    """jsonschema compared every pair of an array it could not sort (8,000 mixed items: 7 s)."""
    schema = {"type": "object", "properties": {"s": {"type": "array", "uniqueItems": True}}}
    info = ConnectorInfo(id="uniq", title="Uniq", version="1", credentials_schema=schema)
    mixed: list[object] = [x for i in range(400) for x in (i, str(i))]
    assert credentials_problem(info, {"s": mixed}) is None
    for duplicated in ([*mixed, "7"], [1, 1.0], [{"a": [1]}, {"a": [1]}], [True, 1, True]):
        message, field = credentials_problem(info, {"s": duplicated}) or ("", "")
        assert field == "s" and "uniqueItems" in message, duplicated
    assert credentials_problem(info, {"s": [True, 1, "1", None, 0, False]}) is None
    message, _ = credentials_problem(info, {"s": [str(i) for i in range(MAX_STEPS + 1)]}) or ("", "")
    assert "would take more than" in message


@pytest.mark.parametrize(
    "spell",
    [lambda i: f"#/$defs%2Fd{i}", lambda i: f"#/$defs/d{i}"],
    ids=["percent-encoded", "plain"],
)
def test_a_pointer_is_followed_as_jsonschema_follows_it(spell: Callable[[int], str]) -> None:
    """``#/$defs%2Fd1`` names ``$defs/d1`` for jsonschema (the pointer is unquoted whole):
    a count that took it for nothing let a 2^16 chain through."""
    defs: dict[str, object] = {
        f"d{i}": {"allOf": [{"$ref": spell(i + 1)}, {"$ref": spell(i + 1)}]} for i in range(16)
    }
    defs["d16"] = {"type": "string"}
    schema = {"type": "object", "$defs": defs, "properties": {"x": {"$ref": spell(0)}}}
    assert outside_reference(schema) is None
    raw = {"id": "chain", "title": "Chain", "version": "1", "credentials_schema": schema}
    with pytest.raises(DescriptorError, match="its references multiply"):
        check_descriptor(raw)


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"patternProperties": {f"^k{i}$": {} for i in range(100)}}, {f"x{i}": 1 for i in range(100)}),
        (
            {"additionalProperties": False, "patternProperties": {f"^k{i}$": {} for i in range(50)}},
            {f"x{i}": 1 for i in range(100)},
        ),
        ({"enum": list(range(MAX_STEPS + 1))}, 1),
        ({"allOf": [{"pattern": f"b|q{i}q"} for i in range(10)]}, "a" * 1_000_000),
        ({"items": {"description": "an id"}}, [0] * (MAX_STEPS + 1)),
        ({"propertyNames": {}}, {f"k{i}": 0 for i in range(MAX_STEPS + 1)}),
    ],
    ids=[
        "patternProperties",
        "additionalProperties",
        "enum",
        "pattern on a long text",
        "items",
        "propertyNames",
    ],
)
def test_a_keyword_that_goes_through_many_keys_or_values_costs_a_step_for_each(
    schema: dict[str, object], value: object
) -> None:
    """A search per pattern and key is one keyword applied, and as many searches."""
    info = ConnectorInfo(
        id="wide",
        title="Wide",
        version="1",
        credentials_schema={"type": "object", "properties": {"v": schema}},
    )
    message, field = credentials_problem(info, {"v": value}) or ("", "")
    assert field == "credentials" and f"would take more than {MAX_STEPS} steps" in message


def test_a_call_with_more_secrets_than_can_be_masked_is_refused_before_any_is_compiled() -> None:
    """Each password in a job's URLs became alternatives of one regular expression, compiled
    on the server's loop when the job ran: 15,000 of them took 0.8 s."""
    from connectord.runtime.calls import MAX_SECRET_FORMS, InvalidCallError, redactor_for
    from connectord.sandbox.calls import Call

    job = JobType(code="urls", title="URLs", params_schema={"type": "object"})
    info = ConnectorInfo(id="fetcher", title="Fetcher", version="1", job_types=[job])
    urls = [f"https://user:pass{i}@example.test/" for i in range(MAX_SECRET_FORMS // 8 + 1)]
    call = Call(connector="fetcher", method="run_job", action="urls", cfg={"urls": urls})
    with pytest.raises(InvalidCallError, match="more than can be masked") as refused:
        redactor_for(info, call)
    assert refused.value.field == "params"
    few = Call(connector="fetcher", method="run_job", action="urls", cfg={"urls": urls[:10]})
    assert (
        redactor_for(info, few).text("https://user:pass3@example.test/") == "https://**********@example.test/"
    )


def test_an_integer_beyond_64_bits_is_named_wherever_it_is_without_a_walk_in_python() -> None:
    """A walk over 340,000 values spelled a path for each (a long key in every one of them:
    hundreds of MB) and held the loop; the encoder now finds that there is one, in C, and
    halving finds which."""
    from connectord.runtime.validation import InvalidRequestError, check_integers, first_path

    for value, path in (
        ([0] * 340_000 + [2**70], "p[340000]"),
        ({"k" * 50_000: [0] * 16_000, "x": {"y": [1, -(2**64)]}}, "p.x.y[1]"),
        ({"a": [1, {"b": 2**70, "c": 2**70}]}, "p.a[1].b"),
    ):
        with pytest.raises(InvalidRequestError) as refused:
            check_integers(value, "p")
        assert refused.value.field == path
    check_integers({"k" * 50_000: [2**63 - 1, -(2**63)] * 8_000}, "p")  # all fit: nothing
    assert first_path([0] * 100 + [1], lambda v: v == 1, limit=50) is None
    assert first_path({".h": 1}, lambda v: v == 1) == ".h"
