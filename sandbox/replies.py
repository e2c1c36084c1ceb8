"""What the supervisor keeps of a worker's outcome: checked, then bounded, then redacted.

The worker checked its reply before sending it, but connector code holds the socket and
can write any frame msgpack can carry: everything is checked here again, before any code
that recurses into the result (msgspec's conversion, the redaction) sees it.
"""

from __future__ import annotations

import logging
from typing import Any

from connectord.sandbox.bounds import MAX_NAME_CHARS, MAX_TEXT_CHARS, TOO_MANY_VALUES, shape_problem
from connectord.sandbox.calls import checked_result
from connectord.sandbox.outcomes import Outcome, Rejected, Succeeded
from connectord.sandbox.redact import RedactionTooCostlyError, Redactor, kept_rejection

log = logging.getLogger(__name__)


def kept_outcome(outcome: Outcome, redactor: Redactor, method: str, *, debug: bool = False) -> Outcome:
    """``outcome`` with every name and message cut to its bound, then redacted, and the data
    of a success redacted (the frame bounds it) once it proved to be ``method``'s result.
    A rejection's traceback is kept only when ``debug`` asked for it."""
    if isinstance(outcome, Rejected):
        return kept_rejection(outcome, redactor, debug=debug)
    if not isinstance(outcome, Succeeded):
        return outcome
    problem = shape_problem(outcome.data)  # only a hand-made frame gets past the worker's check
    if problem is not None:
        log.warning("a worker's %s result was refused: %s", method, problem)
        return Rejected("ResultTooLarge" if problem == TOO_MANY_VALUES else "InvalidResult", problem)
    try:
        data = checked_result(method, outcome.data)
    except ValueError as exc:
        return kept_rejection(Rejected("InvalidResult", str(exc)), redactor)
    if isinstance(data, dict) and method == "verify_credentials":
        return Succeeded(_kept_verification(data, redactor))
    try:
        return Succeeded(redactor.data(data))
    except RedactionTooCostlyError as exc:  # never the text unsearched
        log.warning("a worker's %s result was refused: %s", method, exc)
        return Rejected("ResultTooLarge", f"the result was refused: {exc}")


def _kept_verification(data: dict[str, Any], redactor: Redactor) -> dict[str, Any]:
    """A checked VerifyResult: its message and the failure's field are bounded like a
    rejection's, before they are redacted."""
    kept = dict(data)
    if "message" in kept:
        kept["message"] = redactor.bounded(kept["message"], MAX_TEXT_CHARS)
    failure = kept.get("failure")
    if isinstance(failure, dict) and isinstance(failure.get("field"), str):
        kept["failure"] = {**failure, "field": redactor.bounded(failure["field"], MAX_NAME_CHARS)}
    return kept
