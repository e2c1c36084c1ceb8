"""Secret params in answers: masked by the job type's marks, kept when sent back masked."""

from typing import Any

import pytest

from connectord.plugins.secret_marks import marked_paths, marked_values
from connectord.plugins.types import JobType
from connectord.runtime.jobs.secret_params import (
    changed_params,
    masked,
    refuse_masks,
    unmasked,
    unmasked_params,
)
from connectord.runtime.validation import InvalidRequestError
from connectord.sandbox.redact import MASK

pytestmark = pytest.mark.unit

TYPE = JobType(
    code="t",
    title="t",
    params_schema={
        "type": "object",
        "properties": {
            "token": {"type": "string", "secret": True},
            "headers": {"type": "object", "secret": True, "properties": {"Accept": {"secret": False}}},
            "name": {"type": "string"},
        },
    },
)


def test_marked_values_are_masked_and_the_rest_shown() -> None:
    params = {"token": "t0k", "headers": {"Accept": "json", "X-Key": "k3y"}, "name": "n", "n": 1}
    assert masked(TYPE, params) == {
        "token": MASK,
        "headers": {"Accept": "json", "X-Key": MASK},
        "name": "n",
        "n": 1,
    }


def test_without_its_job_type_every_string_is_masked() -> None:
    assert masked(None, {"a": "x", "b": ["y", 2], "c": {"d": "z"}}) == {
        "a": MASK,
        "b": [MASK, 2],
        "c": {"d": MASK},
    }


def test_a_masked_value_sent_back_keeps_the_stored_one() -> None:
    stored = {"token": "t0k", "headers": {"X-Key": "k3y"}, "list": ["a", "b"]}
    incoming = {"token": MASK, "headers": {"X-Key": MASK, "Accept": "json"}, "list": [MASK, "c", "d"]}
    assert unmasked(incoming, stored, "params") == {
        "token": "t0k",
        "headers": {"X-Key": "k3y", "Accept": "json"},
        "list": ["a", "c", "d"],
    }
    with pytest.raises(InvalidRequestError) as refused:
        unmasked({"list": ["a", "b", MASK]}, stored, "params")
    assert refused.value.field == "params.list[2]"


WEB = JobType(
    code="web",
    title="web",
    params_schema={
        "type": "object",
        "properties": {
            "url": {"type": "string"},
            "method": {"type": "string"},
            "headers": {
                "type": "object",
                "secret": True,
                "patternProperties": {"^[Aa]ccept$": {"type": "string", "secret": False}},
            },
            "auth": {"type": "object", "properties": {"user": {}, "password": {"secret": True}}},
            "body": {},
        },
    },
)
STORED = {
    "url": "https://api.example.com/x",
    "method": "POST",
    "headers": {"Authorization": "Bearer tok-1", "X-Key": "k3y", "Accept": "json"},
    "auth": {"user": "bob", "password": "pw-1"},
    "body": {"items": [1, {"n": 2.0}], "flag": True, "note": None},
}


def test_marked_paths_say_where_each_secret_string_is() -> None:
    schema = {"type": "object", **WEB.params_schema}
    assert marked_paths(schema, STORED) == [
        (("headers", "Authorization"), "Bearer tok-1"),
        (("headers", "X-Key"), "k3y"),
        (("auth", "password"), "pw-1"),
    ]
    assert marked_values(schema, STORED) == ["Bearer tok-1", "k3y", "pw-1"]
    listed = {"items": {"secret": True}}
    assert marked_paths({"properties": listed}, {"items": ["a", {"b": ["c"]}, 3]}) == [
        (("items", 0), "a"),
        (("items", 1, "b", 0), "c"),
    ]


def test_what_a_client_read_comes_back_as_stored() -> None:
    assert unmasked_params(WEB, masked(WEB, STORED), STORED, "params") == STORED
    same = masked(WEB, STORED) | {"body": {"items": [1.0, {"n": 2}], "flag": True, "note": None}}
    assert unmasked_params(WEB, same, STORED, "params") == STORED  # equal as JSON values


def test_a_param_shown_masked_for_equalling_a_secret_comes_back_as_stored() -> None:
    """Masking is by value: a plain param equal to a secret is shown masked too."""
    stored = {"url": "k3y", "headers": {"X-Key": "k3y"}}
    shown = masked(WEB, stored)
    assert shown == {"url": MASK, "headers": {"X-Key": MASK}}
    assert unmasked_params(WEB, shown, stored, "params") == stored


def masked_with(**changes: Any) -> dict[str, Any]:
    return masked(WEB, STORED) | changes


@pytest.mark.parametrize(
    ("incoming", "changed"),
    [
        (masked_with(url="https://evil.example/steal"), "'url'"),
        (masked_with(method="GET"), "'method'"),
        ({k: v for k, v in masked_with().items() if k != "method"}, "'method'"),  # dropped
        (masked_with(timeout=5), "'timeout'"),  # added
        (masked_with(headers={"Authorization": MASK, "X-Key": MASK, "Accept": "xml"}), "'headers.Accept'"),
        (masked_with(headers={"Authorization": MASK, "X-Key": MASK}), "'headers.Accept'"),
        (masked_with(auth={"user": "eve", "password": MASK}), "'auth.user'"),
        (masked_with(body={"items": [1, {"n": 3}], "flag": True, "note": None}), "'body.items[1].n'"),
        (masked_with(body={"items": [1, {"n": 2}, 4], "flag": True, "note": None}), "'body.items[2]'"),
        (masked_with(body={"items": [1, {"n": 2}], "flag": 1, "note": None}), "'body.flag'"),  # not True
        (masked_with(body={"items": [1, {"n": 2}], "flag": True, "note": ""}), "'body.note'"),
        (masked_with(body={"items": {}, "flag": True, "note": None}), "'body.items'"),  # another kind
        (masked_with(body=["x"]), "'body'"),
    ],
)
def test_a_mask_is_refused_when_any_param_but_the_secrets_changes(
    incoming: dict[str, Any], changed: str
) -> None:
    """Else the stored secret would go wherever the changed params point; the answer names
    the first masked param and what changed, never a value."""
    with pytest.raises(InvalidRequestError, match="secrets must be sent again") as refused:
        unmasked_params(WEB, incoming, STORED, "jobDefinition.params")
    assert refused.value.field == "jobDefinition.params.headers.Authorization"
    message = str(refused.value)
    assert message.startswith(f"param 'headers.Authorization' was sent masked ({MASK}) but {changed} changed")
    assert "evil" not in message and "tok-1" not in message and "eve" not in message
    # Every secret sent again: the change goes through as sent.
    again = {**incoming, "headers": {**incoming["headers"], "Authorization": "t", "X-Key": "k"}}
    if "password" in incoming["auth"]:
        again["auth"] = {**incoming["auth"], "password": "p"}
    assert unmasked_params(WEB, again, STORED, "jobDefinition.params") == again


def test_secret_params_may_change_beside_a_masked_one() -> None:
    incoming = masked_with(headers={"Authorization": MASK, "X-Key": "new", "Accept": "json"})
    incoming["auth"] = {"user": "bob", "password": "pw-2"}
    assert unmasked_params(WEB, incoming, STORED, "params") == {
        **incoming,
        "headers": {"Authorization": "Bearer tok-1", "X-Key": "new", "Accept": "json"},
    }


@pytest.mark.parametrize("headers", [{"Host": "attacker-vhost.example"}, {"X-Key": None}])
def test_a_secret_param_added_or_removed_beside_a_masked_one_is_a_change(headers: dict[str, Any]) -> None:
    """Every header but two is secret, ``Host`` too: added beside a masked ``Authorization``,
    it sent the stored token to a virtual host of the sender's choosing."""
    sent = {"Authorization": MASK, "X-Key": MASK, "Accept": "json", **headers}
    incoming = masked_with(headers={k: v for k, v in sent.items() if v is not None})
    with pytest.raises(InvalidRequestError, match="secrets must be sent again"):
        unmasked_params(WEB, incoming, STORED, "params")


def test_many_changes_are_named_up_to_five() -> None:
    incoming = masked_with(body={f"k{i}": i for i in range(8)})
    with pytest.raises(InvalidRequestError) as refused:
        unmasked_params(WEB, incoming, STORED, "params")
    assert "'body.k4' and 7 more changed" in str(refused.value)


def test_without_its_job_type_no_param_may_change_beside_a_mask() -> None:
    """Nothing is known to be secret then: every param counts."""
    stored = {"headers": {"Authorization": "Bearer tok-1"}, "url": "https://a.example"}
    shown = masked(None, stored)
    assert unmasked_params(None, shown, stored, "params") == stored
    with pytest.raises(InvalidRequestError) as refused:
        unmasked_params(None, {**shown, "headers": {"Authorization": "x"}, "url": MASK}, stored, "params")
    assert (refused.value.field, "'headers.Authorization' changed" in str(refused.value)) == (
        "params.url",
        True,
    )


def test_params_without_a_mask_are_taken_as_sent() -> None:
    incoming = {"url": "https://elsewhere.example", "headers": {"Authorization": "new"}}
    assert unmasked_params(WEB, incoming, STORED, "params") is incoming


def test_changed_params_name_each_place_outside_the_secrets() -> None:
    secret = {("h", "a"), ("h", "b")}
    stored = {"u": 1, "h": {"a": "x"}, "l": [1, 2], "e": {}}
    incoming = {"u": 1.0, "h": {"b": "y"}, "l": [1], "n": {"h": [None]}, "e": []}
    both_secrets = [("h", "b"), ("h", "a")]  # one added, one removed
    assert changed_params(incoming, stored, secret) == [*both_secrets, ("l", 1), ("n", "h", 0), ("e",)]
    assert changed_params({"h": {"a": "y"}}, {"h": {"a": "x"}}, secret) == []  # a secret's new value
    assert changed_params({"h": {"a": "x"}}, {}, secret) == [("h", "a")]  # a secret added
    assert changed_params({"h": {}}, {}, secret) == [("h",)]


def test_a_new_definitions_params_may_hold_no_mask() -> None:
    refuse_masks({"headers": {"Accept": "json"}, "n": [MASK + "x"]}, "jobDefinition.params")
    with pytest.raises(InvalidRequestError, match="has no stored value") as refused:
        refuse_masks({"headers": {"Accept": "json", "Authorization": MASK}}, "jobDefinition.params")
    assert refused.value.field == "jobDefinition.params.headers.Authorization"
