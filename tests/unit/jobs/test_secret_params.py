"""Secret params in answers: masked by the job type's marks, kept when sent back masked."""

import pytest

from connectord.plugins.types import JobType
from connectord.runtime.jobs.secret_params import masked, unmasked
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
