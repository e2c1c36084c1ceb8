"""The schedule request of seed 001, and which parameters each execution type needs."""

from __future__ import annotations

from typing import Any

import msgspec

from connectord.plugins.types import SelectQuery
from connectord.runtime.calls import Method

#: Seed 001's table: the parameters each execution type requires (besides its type and component).
REQUIRED: dict[str, tuple[str, ...]] = {
    "verify_credentials": ("account_data",),
    "get_meta_model": ("action_or_trigger", "account_id"),
    "select_model": ("action_or_trigger", "account_id", "model_method"),
}


class ScheduleRequest(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    execution_type: Method
    component: str
    account_data: dict[str, Any] | None = None
    action_or_trigger: str | None = None
    account_id: str | None = None
    model_method: str | None = None
    cfg: dict[str, Any] = msgspec.field(default_factory=dict)
    #: Extension: search, cursor and page size for select_model.
    query: SelectQuery | None = None


class InvalidRequestError(ValueError):
    """A parameter is missing, unknown or wrongly typed; ``field`` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


_decoder = msgspec.json.Decoder(ScheduleRequest)


def parse_schedule_request(body: bytes) -> ScheduleRequest:
    """Decode and check a schedule body; every error names the parameter at fault."""
    try:
        request = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise _named(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidRequestError(f"the body is not valid JSON: {exc}", "body") from None
    for name in REQUIRED[request.execution_type]:
        if getattr(request, name) in (None, ""):
            raise InvalidRequestError(
                f"parameter '{name}' is required for execution_type '{request.execution_type}'", name
            )
    return request


def _named(message: str) -> InvalidRequestError:
    """msgspec says "Expected `str`, got `int` - at `$.component`": name the parameter."""
    if message.startswith("Object contains unknown field"):
        name = message.split("`")[1]
        return InvalidRequestError(f"unknown parameter '{name}'", name)
    if message.startswith("Object missing required field"):
        name = message.split("`")[1]
        return InvalidRequestError(f"parameter '{name}' is required", name)
    if " - at `$." in message:
        reason, path = message.rsplit(" - at `$.", 1)
        name = path.rstrip("`")
        return InvalidRequestError(f"parameter '{name}': {reason}", name.split(".")[0].split("[")[0])
    return InvalidRequestError(f"the body must be a JSON object: {message}", "body")
