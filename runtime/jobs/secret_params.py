"""Secret params of a job definition in API answers: masked where the job type's params
schema marks them (``plugins/secret_marks``), and a masked value sent back kept as stored
while every other param is as stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectord.plugins.secret_marks import Path, marked_paths, marked_values
from connectord.plugins.types import JobType
from connectord.runtime.secrets import same_json
from connectord.runtime.validation import InvalidRequestError
from connectord.sandbox.redact import MASK, holds_masked_url, masked_urls

#: At most this many changed params are named in a refusal.
_NAMED = 5


def masked(job_type: JobType | None, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with every secret string replaced by MASK, and the password of every URL
    in the others masked (``masked_urls``); every string, when the job type is not
    installed (any of them may be secret)."""
    if job_type is None:
        return {k: _replace(v, lambda _: True) for k, v in params.items()}
    secrets = set(marked_values({"type": "object", **job_type.params_schema}, params))
    shown = {k: _replace(v, secrets.__contains__) for k, v in params.items()} if secrets else params
    result: dict[str, Any] = masked_urls(shown)
    return result


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
    if isinstance(incoming, str) and holds_masked_url(incoming):
        if isinstance(stored, str) and masked_urls(stored) == incoming:
            return stored
        raise InvalidRequestError(
            f"{field} holds a URL whose password was sent masked ({MASK}) but the URL is not the "
            "stored one: send its password again",
            field,
        )
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


def unmasked_params(
    job_type: JobType | None, incoming: dict[str, Any], stored: dict[str, Any], field: str
) -> dict[str, Any]:
    """``incoming`` params with each MASK taken from ``stored`` at the same place
    (:func:`unmasked`), while every param but the secret ones is as stored.

    A secret kept while the URL, method or body it goes with changes would be sent wherever
    the new params point, to a host of the sender's choosing; so when any param that is not
    secret (at any depth, its presence included) differs from the stored one, a mask is
    refused (InvalidRequestError naming the first masked param, ``field`` its prefix) and
    every secret must be sent again. Secret params themselves may change. What is secret
    is what ``job_type``'s schema marks (the one the masked answer was made with); with no
    job type, nothing is, so every param must be as stored.
    """
    masks = _mask_paths(incoming, ())
    if not masks:
        return incoming
    restored: dict[str, Any] = unmasked(incoming, stored, field)
    secret = secret_paths(job_type, restored) | secret_paths(job_type, stored)
    changed = changed_params(restored, stored, secret)
    if changed:
        # Where only, never values: this message reaches the API's answer.
        named = ", ".join(repr(_name(path)) for path in changed[:_NAMED])
        more = f" and {len(changed) - _NAMED} more" if len(changed) > _NAMED else ""
        raise InvalidRequestError(
            f"param {_name(masks[0])!r} was sent masked ({MASK}) but {named}{more} changed: "
            "secrets must be sent again when the other params change",
            field + _suffix(masks[0]),
        )
    return restored


def refuse_masks(params: dict[str, Any], field: str) -> None:
    """A new definition's params hold no MASK: nothing is stored for it to stand for, and
    storing it would make asterisks the secret (InvalidRequestError naming the first)."""
    unmasked(params, {}, field)


def secret_paths(job_type: JobType | None, params: dict[str, Any]) -> set[Path]:
    """Where ``params`` hold a string ``job_type``'s schema marks secret (none without one)."""
    if job_type is None:
        return set()
    return {path for path, _ in marked_paths({"type": "object", **job_type.params_schema}, params)}


class _Missing:
    """No value here (the key or item is absent on that side)."""

    def __bool__(self) -> bool:
        return False


_MISSING = _Missing()


def changed_params(incoming: Any, stored: Any, secret: set[Path]) -> list[Path]:
    """The places outside ``secret`` where the two differ as JSON values, in the order of
    ``incoming`` then of ``stored``: each changed, added or removed value that is not a
    container (or an empty one), each place where a value changes kind, and each secret
    added or removed (a secret's new value is no change)."""
    found: list[Path] = []
    _diff(incoming, stored, (), secret, found)
    return found


def _diff(a: Any, b: Any, path: Path, secret: set[Path], found: list[Path]) -> None:
    if path in secret:
        if isinstance(a, _Missing) or isinstance(b, _Missing):
            # A secret added or removed is a change all the same: a header such as ``Host``
            # (every header but two is secret) routes the request, stored secrets with it.
            found.append(path)
        return
    children = _children(a, b)
    if children is not None:
        for key, x, y in children:
            _diff(x, y, (*path, key), secret, found)
    elif isinstance(a, _Missing) or isinstance(b, _Missing) or not same_json(a, b):
        found.append(path)


def _children(a: Any, b: Any) -> list[tuple[str | int, Any, Any]] | None:
    """The pairs of values below two objects, or two arrays (one side may be missing);
    None when they are not both of one of those kinds, or are both empty."""
    for kind in (dict, list):
        if isinstance(a, (kind, _Missing)) and isinstance(b, (kind, _Missing)) and (a or b):
            if kind is dict:
                left = a if isinstance(a, dict) else {}
                right = b if isinstance(b, dict) else {}
                keys = [*left, *(k for k in right if k not in left)]
                return [(k, left.get(k, _MISSING), right.get(k, _MISSING)) for k in keys]
            left_items = a if isinstance(a, list) else []
            right_items = b if isinstance(b, list) else []
            return [
                (i, _item(left_items, i), _item(right_items, i))
                for i in range(max(len(left_items), len(right_items)))
            ]
    return None


def _item(items: list[Any], index: int) -> Any:
    return items[index] if index < len(items) else _MISSING


def _mask_paths(value: Any, path: Path) -> list[Path]:
    if isinstance(value, str):
        return [path] if value == MASK or holds_masked_url(value) else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _mask_paths(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _mask_paths(v, (*path, i))]
    return []


def _suffix(path: Path) -> str:
    """``.headers.Authorization``, ``.list[2]``: as :func:`unmasked` names a place."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def _name(path: Path) -> str:
    """A param's place in a message: ``headers.Authorization``, ``list[2]``."""
    return _suffix(path).removeprefix(".")
