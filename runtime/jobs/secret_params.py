"""Secret params of a job definition in API answers: masked where the job type's params
schema marks them (``plugins/secret_marks``), and a masked value sent back kept as stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectord.plugins.secret_marks import marked_values
from connectord.plugins.types import JobType
from connectord.runtime.validation import InvalidRequestError
from connectord.sandbox.redact import MASK


def masked(job_type: JobType | None, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with every secret string replaced by MASK; every string, when the job
    type is not installed (any of them may be secret)."""
    if job_type is None:
        return {k: _replace(v, lambda _: True) for k, v in params.items()}
    secrets = set(marked_values({"type": "object", **job_type.params_schema}, params))
    return {k: _replace(v, secrets.__contains__) for k, v in params.items()} if secrets else params


def _replace(value: Any, secret: Callable[[str], bool]) -> Any:
    if isinstance(value, str):
        return MASK if secret(value) else value
    if isinstance(value, dict):
        return {k: _replace(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, secret) for v in value]
    return value


def unmasked(incoming: Any, stored: Any, field: str) -> Any:
    """``incoming`` with each MASK taken from ``stored`` at the same place; a MASK where
    nothing is stored is refused, since storing the mask itself would lose the secret."""
    if isinstance(incoming, str) and incoming == MASK:
        if isinstance(stored, str):
            return stored
        raise InvalidRequestError(f"{field} was sent masked ({MASK}) but has no stored value", field)
    if isinstance(incoming, dict):
        fields = stored if isinstance(stored, dict) else {}
        return {k: unmasked(v, fields.get(k), f"{field}.{k}") for k, v in incoming.items()}
    if isinstance(incoming, list):
        before = stored if isinstance(stored, list) else []
        return [
            unmasked(v, before[i] if i < len(before) else None, f"{field}[{i}]")
            for i, v in enumerate(incoming)
        ]
    return incoming
