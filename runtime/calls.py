"""A call of one hook of one connector: a design-time call (verify_credentials,
select_model, get_meta_model) or a job (run_job); whether it is valid, and how it runs.

``check_call`` is what the API and the CLI use to refuse a bad call before anything runs;
``run_call`` executes a checked call against a registry and always returns an Outcome.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol

import msgspec

from connectord.plugins.errors import ConfigError
from connectord.plugins.manager import ConnectorRegistry, HookNotImplementedError
from connectord.plugins.secret_marks import marked_values
from connectord.plugins.types import (
    ConnectorInfo,
    JobResult,
    JobType,
    MetaModel,
    SelectQuery,
    SelectResult,
    VerifyResult,
    not_verified,
)
from connectord.runtime.bounds import NESTS_TOO_DEEP
from connectord.runtime.outcomes import Outcome, Rejected, Succeeded
from connectord.runtime.redact import Redactor, kept_rejection, secret_values, url_passwords

if TYPE_CHECKING:
    # Imported where used: workers and their zygotes run hooks but never validate, and
    # every module a zygote holds makes each fork of it slower.
    import jsonschema

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
    """Refuse a call to an unknown connector, action, model method or job type, to a hook
    the connector lacks, or a job whose params break its schema; return the connector's
    description."""
    info = registry.get(call.connector).info
    if call.method == "verify_credentials":
        _require_hook(registry, call)
        return info
    if call.method == "run_job":
        _check_job(registry, info, call)
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
        return kept_rejection(outcome, redactor)
    return outcome


def redactor_for(info: ConnectorInfo, call: Call) -> Redactor:
    """What to mask in the call's logs, messages and result: the secret credentials and,
    for a job, its secret params and any password in a URL among its params."""
    secret_fields = info.secret_fields()
    others = [v for k, v in call.credentials.items() if k not in secret_fields and isinstance(v, str)]
    secrets = secret_values(call.credentials, secret_fields)
    job = info.job_type(call.action or "") if call.method == "run_job" else None
    if job is not None:
        secrets += marked_values(job.params_schema, call.cfg) + url_passwords(call.cfg)
    return Redactor(secrets, users=others)


def refuse_credentials(info: ConnectorInfo, call: Call) -> Outcome | None:
    """The outcome of a call whose credentials break the connector's schema (no connector
    code needs to run for it), or None when they fit. A job that needs no account has no
    credentials to check."""
    if call.method == "run_job":
        job = info.job_type(call.action or "")
        if job is None or not job.needs_account:
            return None
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
            import asyncio  # a zygote whose connector has coroutine hooks imports it beforehand

            raw = asyncio.run(_await(raw))
        return Succeeded(_as_result(call.method, raw))
    except _InvalidResultError as exc:
        return Rejected("InvalidResult", str(exc))
    except Exception as exc:
        return _rejection(exc)


def _rejection(exc: Exception) -> Rejected:
    """What the connector raised, as texts: its own ``__str__`` may raise, and a
    ConfigError's ``field`` may be anything, not only the name it should be."""
    field = exc.field if isinstance(exc, ConfigError) else None
    return Rejected(type(exc).__name__, _shown(exc), None if field is None else _shown(field))


def _shown(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return f"({type(value).__name__} that cannot be shown)"


def _require_hook(registry: ConnectorLookup, call: Call) -> None:
    if not registry.implements(call.connector, call.method):
        raise HookNotImplementedError(call.connector, call.method)


def _check_job(registry: ConnectorLookup, info: ConnectorInfo, call: Call) -> None:
    if not call.action:
        raise InvalidCallError("run_job needs a job type", "jobType")
    job = info.job_type(call.action)
    if job is None:
        codes = ", ".join(j.code for j in info.job_types) or "none"
        raise InvalidCallError(
            f"connector '{info.id}' has no job type '{call.action}' (it has: {codes})", "jobType"
        )
    _require_hook(registry, call)
    if not job.needs_account and call.credentials:
        raise InvalidCallError(
            f"job type '{job.code}' runs without an account: pass no credentials", "credentials"
        )
    problem = params_problem(job, call.cfg)
    if problem is not None:
        raise InvalidCallError(*problem)


def _hook_kwargs(call: Call) -> dict[str, Any]:
    if call.method == "verify_credentials":
        return {"credentials": call.credentials}
    if call.method == "run_job":
        return {"job_type": call.action, "params": call.cfg, "credentials": call.credentials}
    kwargs: dict[str, Any] = {"action": call.action, "credentials": call.credentials, "cfg": call.cfg}
    if call.method == "select_model":
        kwargs |= {"method": call.model_method, "query": call.query}
    return kwargs


@functools.lru_cache(maxsize=256)
def schema_validator(schema: bytes) -> jsonschema.protocols.Validator:
    """A validator per distinct schema, credentials or params (building one costs far more
    than using it)."""
    import jsonschema

    return jsonschema.Draft202012Validator(msgspec.json.decode(schema))


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


def credentials_problem(info: ConnectorInfo, credentials: dict[str, Any]) -> tuple[str, str] | None:
    """The first way ``credentials`` break the connector's schema, as (message, field).

    Messages name the field and the rule but never echo the value, which may be a secret.
    """
    problem = _schema_problem(info.credentials_schema, credentials, "credential field")
    if problem is None:
        return None
    rule, path = problem
    field = path or "credentials"
    return f"credential field '{field}' {rule}", field


def params_problem(job_type: JobType, params: dict[str, Any]) -> tuple[str, str] | None:
    """The first way a job's ``params`` break its job type's ``params_schema``, as
    (message, field); the field reads ``params.url``, ``params.headers.Accept`` (``params``
    for the whole object).

    Messages name the field and the rule but never echo the value, which may be a secret.
    """
    problem = _schema_problem(job_type.params_schema, params, "parameter")
    if problem is None:
        return None
    rule, path = problem
    if not path:
        return f"params {rule}", "params"
    return f"parameter '{path}' of job type '{job_type.code}' {rule}", f"params.{path}"


def _schema_problem(schema: dict[str, Any], instance: Any, noun: str) -> tuple[str, str] | None:
    """(rule, dotted path) of the best-matching error of ``instance`` against ``schema``."""
    validator = schema_validator(msgspec.json.encode(schema))
    error = _best_match()(validator.iter_errors(instance))
    if error is None:
        return None
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = next((f for f in error.validator_value if f not in error.instance), "?")
        path.append(missing)
        rule = "is required"
    elif error.validator == "additionalProperties":
        extra = sorted(_unknown_keys(error.schema, error.instance))
        path.append(extra[0] if extra else "?")
        rule = f"is not a known {noun}"
    elif error.validator == "not" and _forbids_required(error.validator_value):
        path.append(next((f for f in error.validator_value["required"] if f in error.instance), "?"))
        reason = error.schema.get("description") if isinstance(error.schema, dict) else None
        rule = f"is not allowed here: {reason}" if isinstance(reason, str) else "is not allowed here"
    else:
        rule = f"fails '{error.validator}': {_rule_text(error)}"
    return rule, ".".join(path)


@functools.cache
def _best_match() -> Callable[..., jsonschema.ValidationError | None]:
    """jsonschema's ``best_match``, imported once (an import statement per call costs a
    fifth of checking a call's credentials)."""
    from jsonschema.exceptions import best_match

    return best_match


def _unknown_keys(schema: Any, instance: Any) -> set[str]:
    """The keys of ``instance`` that neither ``properties`` nor ``patternProperties`` declare."""
    if not isinstance(schema, dict) or not isinstance(instance, dict):
        return set()
    known = set(schema.get("properties", {}))
    patterns = list(schema.get("patternProperties", {}))
    return {key for key in instance if key not in known and not any(re.search(p, key) for p in patterns)}


def _forbids_required(subschema: Any) -> bool:
    """``{"not": {"required": [...]}}``: the schema's way of saying a field must be absent."""
    return isinstance(subschema, dict) and set(subschema) == {"required"}


def _rule_text(error: jsonschema.ValidationError) -> str:
    if error.validator in ("anyOf", "oneOf"):
        return "matches none of the allowed forms"  # its subschemas would be no help to read
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
    except RecursionError:
        raise _InvalidResultError(NESTS_TOO_DEEP) from None
    return msgspec.to_builtins(result)


async def _await(awaitable: Any) -> Any:
    return await awaitable
