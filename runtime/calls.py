"""A design-time call: what it is, whether it is valid, and how it runs against one connector.

``check_call`` is what the API and the CLI use to refuse a bad call before anything runs;
``run_call`` executes a checked call against a registry and always returns an Outcome.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import Any, Literal, Protocol

import jsonschema
import msgspec

from connectord.plugins.errors import ConfigError
from connectord.plugins.manager import ConnectorRegistry, HookNotImplementedError
from connectord.plugins.types import (
    ConnectorInfo,
    MetaModel,
    SelectQuery,
    SelectResult,
    VerifyResult,
    not_verified,
)
from connectord.runtime.outcomes import Outcome, Rejected, Succeeded
from connectord.runtime.redact import Redactor, secret_values

Method = Literal["verify_credentials", "select_model", "get_meta_model"]
METHODS: tuple[Method, ...] = ("verify_credentials", "select_model", "get_meta_model")
RESULT_TYPES: dict[str, type[msgspec.Struct]] = {
    "verify_credentials": VerifyResult,
    "select_model": SelectResult,
    "get_meta_model": MetaModel,
}


class Call(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One invocation of one hook of one connector."""

    connector: str
    method: Method
    credentials: dict[str, Any] = msgspec.field(default_factory=dict)
    action: str | None = None
    model_method: str | None = None
    cfg: dict[str, Any] = msgspec.field(default_factory=dict)
    query: SelectQuery = msgspec.field(default_factory=SelectQuery)


class InvalidCallError(ValueError):
    """The call is malformed; ``field`` names the part at fault (a 400, not an outcome)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class ConnectorLookup(Protocol):
    """A ConnectorRegistry (code loaded) or a Catalog (descriptions only)."""

    def get(self, connector_id: str) -> Any: ...

    def implements(self, connector_id: str, hook: str) -> bool: ...


def check_call(registry: ConnectorLookup, call: Call) -> ConnectorInfo:
    """Refuse a call to an unknown connector, action or model method, or to a hook the
    connector lacks; return the connector's description."""
    info = registry.get(call.connector).info
    if call.method == "verify_credentials":
        _require_hook(registry, call)
        return info
    if not call.action:
        raise InvalidCallError(f"{call.method} needs an action or trigger", "action")
    op = info.operation(call.action)
    if op is None:
        names = ", ".join(o.name for o in (*info.actions, *info.triggers)) or "none"
        raise InvalidCallError(
            f"connector '{info.id}' has no action or trigger '{call.action}' (it has: {names})",
            "action",
        )
    if call.method == "select_model":
        if not call.model_method:
            raise InvalidCallError("select_model needs a model method", "model_method")
        if call.model_method not in op.model_methods:
            names = ", ".join(op.model_methods) or "none"
            raise InvalidCallError(
                f"'{op.name}' of connector '{info.id}' has no model method "
                f"'{call.model_method}' (it has: {names})",
                "model_method",
            )
    elif not op.dynamic_metadata:
        raise InvalidCallError(f"'{op.name}' of connector '{info.id}' has no dynamic metadata", "action")
    _require_hook(registry, call)
    return info


def run_call(registry: ConnectorRegistry, call: Call) -> Outcome:
    """Run a call in this process and turn whatever happens into an Outcome."""
    info = check_call(registry, call)
    redactor = redactor_for(info, call)
    early = refuse_credentials(info, call)
    outcome = early if early is not None else invoke_hook(registry, call)
    if isinstance(outcome, Rejected):
        return Rejected(outcome.error_type, redactor.text(outcome.message), outcome.field)
    return outcome


def redactor_for(info: ConnectorInfo, call: Call) -> Redactor:
    secret_fields = info.secret_fields()
    others = [v for k, v in call.credentials.items() if k not in secret_fields and isinstance(v, str)]
    return Redactor(secret_values(call.credentials, secret_fields), users=others)


def refuse_credentials(info: ConnectorInfo, call: Call) -> Outcome | None:
    """The outcome of a call whose credentials break the connector's schema (no connector
    code needs to run for it), or None when they fit."""
    problem = credentials_problem(info, call.credentials)
    if problem is None:
        return None
    message, field = problem
    if call.method == "verify_credentials":
        return Succeeded(msgspec.to_builtins(not_verified("config", message, field)))
    return Rejected("InvalidCredentials", message, field)


def invoke_hook(registry: ConnectorRegistry, call: Call) -> Outcome:
    """Call the hook and check its result. Messages are not redacted here: the caller,
    which knows the secrets, does that."""
    try:
        raw = registry.call(call.connector, call.method, **_hook_kwargs(call))
        if inspect.isawaitable(raw):
            raw = asyncio.run(_await(raw))
        return Succeeded(_as_result(call.method, raw))
    except _InvalidResultError as exc:
        return Rejected("InvalidResult", str(exc))
    except Exception as exc:
        field = exc.field if isinstance(exc, ConfigError) else None
        return Rejected(type(exc).__name__, str(exc), field)


def _require_hook(registry: ConnectorLookup, call: Call) -> None:
    if not registry.implements(call.connector, call.method):
        raise HookNotImplementedError(call.connector, call.method)


def _hook_kwargs(call: Call) -> dict[str, Any]:
    if call.method == "verify_credentials":
        return {"credentials": call.credentials}
    kwargs: dict[str, Any] = {"action": call.action, "credentials": call.credentials, "cfg": call.cfg}
    if call.method == "select_model":
        kwargs |= {"method": call.model_method, "query": call.query}
    return kwargs


@functools.lru_cache(maxsize=256)
def credentials_validator(schema: bytes) -> jsonschema.protocols.Validator:
    """A validator per distinct credentials schema (building one costs far more than using it)."""
    return jsonschema.Draft202012Validator(msgspec.json.decode(schema))


def warm_up(info: ConnectorInfo) -> None:
    """Build what every call of this connector needs, so forked workers inherit it."""
    credentials_validator(msgspec.json.encode(info.credentials_schema))


_SAMPLE_RESULTS: dict[str, Any] = {
    "verify_credentials": {"verified": True, "message": "", "failure": {"kind": "auth", "field": "f"}},
    "select_model": {"options": [{"value": "v", "label": "l"}], "next_cursor": None},
    "get_meta_model": {"in": {}, "out": {}},
}


def warm_result_type(method: str) -> None:
    """Have msgspec build its converter for ``method``'s result type now (it does so lazily,
    on first use), in the zygote, rather than in every worker."""
    _as_result(method, _SAMPLE_RESULTS[method])


def credentials_problem(info: ConnectorInfo, credentials: dict[str, Any]) -> tuple[str, str] | None:
    """The first way ``credentials`` break the connector's schema, as (message, field).

    Messages name the field and the rule but never echo the value, which may be a secret.
    """
    validator = credentials_validator(msgspec.json.encode(info.credentials_schema))
    error = jsonschema.exceptions.best_match(validator.iter_errors(credentials))
    if error is None:
        return None
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = next((f for f in error.validator_value if f not in error.instance), "?")
        path.append(missing)
        rule = "is required"
    elif error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(info.credentials_schema.get("properties", {})))
        path.append(extra[0] if extra else "?")
        rule = "is not a known credential field"
    else:
        rule = f"fails '{error.validator}': {_rule_text(error)}"
    field = ".".join(path) or "credentials"
    return f"credential field '{field}' {rule}", field


def _rule_text(error: jsonschema.ValidationError) -> str:
    value = error.validator_value
    return f"expected {value}" if isinstance(value, str | int | float | list) else "invalid value"


class _InvalidResultError(ValueError):
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
    return msgspec.to_builtins(result)


async def _await(awaitable: Any) -> Any:
    return await awaitable
