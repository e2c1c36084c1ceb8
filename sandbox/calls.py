"""A call of one hook of one connector, and how a worker runs it: the hook called through
its connector's own plugin manager, its result checked against the method's result type.

This is all a worker needs of a call; what the server checks before one runs (the
connector, its action, credentials and params against their schemas) is
``connectord.runtime.calls``.
"""

from __future__ import annotations

import inspect
import os
from typing import Any, Literal

import msgspec

from connectord.plugins.errors import ConfigError
from connectord.plugins.manager import ConnectorRegistry
from connectord.plugins.server_errors import Invalid
from connectord.plugins.types import JobResult, MetaModel, SelectQuery, SelectResult, VerifyResult
from connectord.sandbox.bounds import NESTS_TOO_DEEP
from connectord.sandbox.outcomes import Outcome, Rejected, Succeeded

#: The design-time calls: what the exec API schedules and ``connectord call`` runs.
DesignTimeMethod = Literal["verify_credentials", "select_model", "get_meta_model"]

Method = Literal[DesignTimeMethod, "run_job"]

METHODS: tuple[DesignTimeMethod, ...] = ("verify_credentials", "select_model", "get_meta_model")

RESULT_TYPES: dict[str, type[msgspec.Struct]] = {
    "verify_credentials": VerifyResult,
    "select_model": SelectResult,
    "get_meta_model": MetaModel,
    "run_job": JobResult,
}


class Call(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One invocation of one hook of one connector.

    A job is a call too, ``method="run_job"``, with the fields mapped as follows:
    ``action`` is the job type's code, ``cfg`` the job's params, and ``credentials`` the
    account's credentials when the job type ``needs_account`` (else empty). ``model_method``
    and ``query`` are not used.
    """

    connector: str
    method: Method
    credentials: dict[str, Any] = msgspec.field(default_factory=dict)
    action: str | None = None
    model_method: str | None = None
    cfg: dict[str, Any] = msgspec.field(default_factory=dict)
    query: SelectQuery = msgspec.field(default_factory=SelectQuery)


def invoke_hook(registry: ConnectorRegistry, call: Call, *, debug: bool = False) -> Outcome:
    """Call the hook and check its result; with ``debug``, a rejection for what the
    connector raised carries its traceback. Messages are not redacted here: the caller,
    which knows the secrets, does that."""
    try:
        raw = registry.call(call.connector, call.method, **_hook_kwargs(call))
        if type(raw) not in _NEVER_AWAITABLE and inspect.isawaitable(raw):
            import asyncio  # a zygote whose connector has coroutine hooks imports it beforehand

            raw = asyncio.run(_await(raw))
        return Succeeded(_as_result(call.method, raw))
    except _InvalidResultError as exc:
        return Rejected("InvalidResult", str(exc))
    except Exception as exc:
        return _rejection(exc, debug)


#: What hooks commonly return, exactly these types: none is awaitable. Asking
#: ``inspect.isawaitable`` about them goes through the ``Awaitable`` ABC, whose caches a
#: fresh worker fills anew for every call (≈ 40 pages copied on write, 0.1 ms).
_NEVER_AWAITABLE: frozenset[type] = frozenset(
    {dict, list, tuple, str, bytes, int, float, bool, type(None), *RESULT_TYPES.values()}
)


def _rejection(exc: Exception, debug: bool = False) -> Rejected:
    """What the connector raised, as texts: its own ``__str__`` may raise, and a
    ConfigError's ``field`` may be anything, not only the name it should be."""
    field = exc.field if isinstance(exc, ConfigError) else None
    trace = connector_traceback(exc) if debug else None
    return Rejected(type(exc).__name__, _shown(exc), None if field is None else _shown(field), trace)


def connector_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` from the connector's first frame on: the frames of the
    runtime, pluggy and asyncio that led to the hook are left out."""
    import traceback  # debug calls only: a zygote need not hold it

    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_runtime_dirs()):
        tb = tb.tb_next
    try:
        return "".join(traceback.format_exception(type(exc), exc, tb))
    except Exception:  # an exception whose __str__ raises, in the chain too
        return f"{type(exc).__name__} (its traceback cannot be shown)"


def _runtime_dirs() -> tuple[str, ...]:
    import asyncio

    import pluggy

    from connectord.plugins import manager

    files = [module.__file__ for module in (asyncio, pluggy, manager) if module.__file__]
    return tuple(os.path.dirname(file) + os.sep for file in (*files, __file__))


def _shown(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return f"({type(value).__name__} that cannot be shown)"


def _hook_kwargs(call: Call) -> dict[str, Any]:
    if call.method == "verify_credentials":
        return {"credentials": call.credentials}
    if call.method == "run_job":
        return {"job_type": call.action, "params": call.cfg, "credentials": call.credentials}
    kwargs: dict[str, Any] = {"action": call.action, "credentials": call.credentials, "cfg": call.cfg}
    if call.method == "select_model":
        kwargs |= {"method": call.model_method, "query": call.query}
    return kwargs


_SAMPLE_RESULTS: dict[str, Any] = {
    "verify_credentials": {"verified": True, "message": "", "failure": {"kind": "auth", "field": "f"}},
    "select_model": {"options": [{"value": "v", "label": "l"}], "next_cursor": None},
    "get_meta_model": {"in": {}, "out": {}},
    "run_job": {"data": {"rows": [[1, "a"]]}, "outputs": {"count": 1}},
}


def warm_result_type(method: str) -> None:
    """Have msgspec build its converter for ``method``'s result type now (it does so lazily,
    on first use), in the zygote, rather than in every worker."""
    _as_result(method, _SAMPLE_RESULTS[method])


class _InvalidResultError(Invalid, ValueError):
    pass


def checked_result(method: str, data: Any) -> Any:
    """``data`` as the method's result type allows it; ValueError if it does not fit."""
    return _as_result(method, data)


def _as_result(method: str, raw: Any) -> Any:
    result_type = RESULT_TYPES[method]
    if raw is None:
        raise _InvalidResultError(f"{method} returned nothing")
    try:
        # Through builtins, so a Struct built with wrong field types is caught as well.
        result = msgspec.convert(msgspec.to_builtins(raw), result_type)
    except (msgspec.ValidationError, TypeError) as exc:
        raise _InvalidResultError(f"{method} returned an invalid {result_type.__name__}: {exc}") from None
    except RecursionError:
        raise _InvalidResultError(NESTS_TOO_DEEP) from None
    return msgspec.to_builtins(result)


async def _await(awaitable: Any) -> Any:
    return await awaitable
