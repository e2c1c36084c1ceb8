"""A connector's description is connector code's output too: the server checks every call's
credentials, configuration and job parameters against the schemas it describes, in its own
process, before any connector code runs. A ``pattern`` there is a regular expression the
server runs on a tenant's input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from connectord.plugins.types import ConnectorInfo, JobType
from connectord.runtime.calls import UNCHECKABLE, credentials_problem, params_problem

#: Exponential backtracking in Python's ``re``: ``(a|aa)+`` tries every way to split the
#: run of "a" before the "!" refuses them all (about 1.5e12 ways for 60 of them).
CHECK = """
from connectord.plugins.types import ConnectorInfo
from connectord.runtime.calls import credentials_problem

schema = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^(a|aa)+$"}}}
info = ConnectorInfo(id="redos", title="ReDoS", version="1", credentials_schema=schema)
print(credentials_problem(info, {"name": "a" * 60 + "!"}))
"""


@pytest.mark.xfail(
    strict=True,
    reason="the server matches a connector's `pattern` with Python's backtracking `re`, which "
    "holds the GIL: one call with 61 characters of input hangs the whole server (see the report "
    "of the h-attack branch: a linear-time engine, RE2, for pattern and patternProperties)",
)
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
