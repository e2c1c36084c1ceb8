"""The schedule request of seed 001, and which parameters each execution type needs."""

from __future__ import annotations

from typing import Any

import msgspec

from connectord.plugins.types import SelectQuery
from connectord.runtime.validation import InvalidRequestError, check_integers
from connectord.sandbox.calls import DesignTimeMethod

#: Seed 001's table: the parameters each execution type requires (besides its type and component).
REQUIRED: dict[str, tuple[str, ...]] = {
    "verify_credentials": ("account_data",),
    "get_meta_model": ("action_or_trigger", "account_id"),
    "select_model": ("action_or_trigger", "account_id", "model_method"),
}


class ScheduleRequest(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    execution_type: DesignTimeMethod
    component: str
    account_data: dict[str, Any] | None = None
    action_or_trigger: str | None = None
    account_id: str | None = None
    model_method: str | None = None
    cfg: dict[str, Any] = msgspec.field(default_factory=dict)
    #: Extension: search, cursor and page size for select_model.
    query: SelectQuery | None = None


def check_schedule_request(request: ScheduleRequest) -> ScheduleRequest:
    """``request`` if it has what its execution type needs and only what a worker can be
    handed; else an error naming the parameter at fault."""
    check_integers(request.cfg, "cfg")  # what msgpack carries to the worker
    check_integers(request.account_data, "account_data")
    for name in REQUIRED[request.execution_type]:
        if getattr(request, name) in (None, ""):
            raise InvalidRequestError(
                f"parameter '{name}' is required for execution_type '{request.execution_type}'", name
            )
    return request
