"""Whether a call (``connectord.sandbox.calls.Call``) may run: its connector, action,
model method or job type, its credentials and params against their schemas, and what of
it must be masked.

``check_call`` is what the API and the CLI use to refuse a bad call before anything runs;
``run_call`` executes a checked call against a registry in this process and always returns
an Outcome; ``run_in_sandbox`` checks a call and runs it in a sandboxed worker.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

import msgspec

from connectord.plugins.descriptor import unsupported_part
from connectord.plugins.manager import ConnectorRegistry, HookNotImplementedError
from connectord.plugins.schema_cost import CheckTooCostlyError, within_budget
from connectord.plugins.schema_patterns import UnsupportedPatternError, additional_keys, validator_class
from connectord.plugins.schema_refs import no_retrieval
from connectord.plugins.secret_marks import marked_values
from connectord.plugins.server_errors import Invalid
from connectord.plugins.types import (
    ConnectorInfo,
    JobType,
    Operation,
    not_verified,
)
from connectord.sandbox.calls import Call, invoke_hook
from connectord.sandbox.outcomes import Crashed, Outcome, Rejected, Succeeded
from connectord.sandbox.redact import Redactor, secret_values, url_passwords
from connectord.sandbox.replies import kept_outcome
from connectord.sandbox.supervisor import InvocationResult, Supervisor
from connectord.sandbox.zygote_client import ZygoteError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    # Imported where used: workers and their zygotes run hooks but never validate, and
    # every module a zygote holds makes each fork of it slower.
    import jsonschema


class InvalidCallError(Invalid, ValueError):
    """The call is malformed; ``field`` names the part at fault (a 400, not an outcome)."""

    field: str

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field)


class Described(Protocol):
    """A loaded Connector or a CatalogEntry: each holds the connector's description."""

    @property
    def info(self) -> ConnectorInfo: ...


class ConnectorLookup(Protocol):
    """A ConnectorRegistry (code loaded) or a Catalog (descriptions only)."""

    def get(self, connector_id: str) -> Described: ...

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
    problem = cfg_problem(op, call.cfg, complete=call.method == "get_meta_model")
    if problem is not None:
        raise InvalidCallError(*problem)
    return info


def run_call(registry: ConnectorRegistry, call: Call, *, debug: bool = False) -> Outcome:
    """Run a call in this process and turn whatever happens into an Outcome; with
    ``debug``, a rejection carries the connector's traceback, redacted."""
    info = check_call(registry, call)
    redactor = redactor_for(info, call)
    early = refuse_credentials(info, call)
    outcome = early if early is not None else invoke_hook(registry, call, debug=debug)
    return kept_outcome(outcome, redactor, call.method, debug=debug)


#: Forms of each secret the redactor masks (sandbox/redact.py), and of all a call's secrets
#: at most: each is an alternative of one regular expression, compiled on the server's loop
#: for every call (15,000 passwords in a job's URLs took 0.8 s).
FORMS_PER_SECRET = 8
MAX_SECRET_FORMS = 4096


def redactor_for(info: ConnectorInfo, call: Call) -> Redactor:
    """What to mask in the call's logs, messages and result: the secret credentials and,
    for a job, its secret params and any password in a URL among its params."""
    secret_fields = info.secret_fields()
    others = [v for k, v in call.credentials.items() if k not in secret_fields and isinstance(v, str)]
    secrets = secret_values(call.credentials, secret_fields)
    job = info.job_type(call.action or "") if call.method == "run_job" else None
    if job is not None:
        secrets += marked_values(job.params_schema, call.cfg) + url_passwords(call.cfg)
    forms = len(secrets) * (FORMS_PER_SECRET + len(others))
    if forms > MAX_SECRET_FORMS:
        field = "params" if job is not None else "credentials"
        raise InvalidCallError(
            f"the call carries {len(secrets)} secret values among {len(others)} other credentials: "
            f"more than can be masked in what comes back (at most {MAX_SECRET_FORMS} forms of them)",
            field,
        )
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


def cfg_problem(op: Operation, cfg: dict[str, Any], *, complete: bool) -> tuple[str, str] | None:
    """The first way ``cfg`` breaks the operation's ``config_schema``, as (message, field);
    the field reads ``cfg.table``. A dropdown (``select_model``) is filled while the form
    is still incomplete: unless ``complete``, a missing required field is no problem.
    ``force_refresh`` is the runtime's own (it bypasses the answer cache), not the form's.

    Messages name the field and the rule but never echo the value."""
    if not op.config_schema:
        return None
    declared = op.config_schema.get("properties", {})
    if "force_refresh" not in declared:
        cfg = {k: v for k, v in cfg.items() if k != "force_refresh"}
    problem = _schema_problem(op.config_schema, cfg, "configuration field", skip_required=not complete)
    if problem is None:
        return None
    rule, path = problem
    if not path:
        return f"cfg {rule}", "cfg"
    return f"configuration field '{path}' of '{op.name}' {rule}", f"cfg.{path}"


@functools.lru_cache(maxsize=256)
def schema_validator(schema: bytes) -> jsonschema.protocols.Validator | str:
    """A validator per distinct schema, credentials or params (building one costs far more
    than using it), or why the schema cannot be checked in linear time (the server checks
    its connectors' descriptions when it loads them; a schema that reaches a check
    otherwise is refused here all the same). Its patterns are matched by RE2, never by
    Python's backtracking ``re``: see plugins/schema_patterns.py."""
    decoded = msgspec.json.decode(schema)
    unsupported = unsupported_part(decoded)
    if unsupported is not None:
        return f"cannot be checked: the connector's schema is not supported: {unsupported}"
    return validator_class()(decoded, registry=no_retrieval())


#: The validator of each schema object of the catalog lately checked against, by identity:
#: a call's schema is the same object each time, and encoding it to find its validator
#: (``schema_validator``) cost more than most checks. Each entry holds its schema, so that
#: no other object can take its id while it is here.
_by_identity: dict[int, tuple[dict[str, Any], jsonschema.protocols.Validator | str]] = {}
_BY_IDENTITY_MAX = 256


def _validator_of(schema: dict[str, Any]) -> jsonschema.protocols.Validator | str:
    known = _by_identity.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1]
    validator = schema_validator(msgspec.json.encode(schema))
    if len(_by_identity) >= _BY_IDENTITY_MAX:
        _by_identity.clear()
    _by_identity[id(schema)] = (schema, validator)
    return validator


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


#: Why an input is refused whose check recursed without end.
UNCHECKABLE = "cannot be checked: the connector's schema refers to itself without end"


def _schema_problem(
    schema: dict[str, Any], instance: Any, noun: str, *, skip_required: bool = False
) -> tuple[str, str] | None:
    """(rule, dotted path) of the best-matching error of ``instance`` against ``schema``;
    ``skip_required``: a missing field is no error. A schema that refers to itself without
    end (``{"allOf": [{"$ref": "#"}]}``: a connector describes what it likes) cannot pass:
    the check's recursion ends, and the input is refused, rather than the request."""
    validator = _validator_of(schema)
    if isinstance(validator, str):
        return validator, ""
    errors = validator.iter_errors(instance)
    if skip_required:
        errors = (e for e in errors if e.validator != "required")
    try:
        with within_budget():
            error = _best_match()(errors)
    except CheckTooCostlyError as exc:
        return f"cannot be checked against the connector's schema: {exc}", ""
    except RecursionError:
        return UNCHECKABLE, ""
    except UnsupportedPatternError as exc:  # a pattern under a $ref unsupported_pattern missed
        return f"cannot be checked: the connector's schema is not supported: {exc}", ""
    except _unresolvable() as exc:  # "#/nowhere": within the schema, yet not in it
        return f"cannot be checked: the connector's schema has a reference that does not resolve: {exc}", ""
    except Exception as exc:  # the schema is the connector's: its fault is no 500 of ours
        log.warning("a connector's schema could not be applied: %s", type(exc).__name__)
        return f"cannot be checked: the connector's schema is not valid ({type(exc).__name__})", ""
    if error is None:
        return None
    path = [str(p) for p in error.absolute_path]
    # "required" (also under "not") constrains objects only, but a "not" fails for any other
    # instance: only an object has fields to name.
    instance = error.instance if isinstance(error.instance, dict) else {}
    if error.validator == "required":
        names = error.validator_value if isinstance(error.validator_value, list) else []
        missing = next((f for f in names if f not in instance), "?")
        path.append(missing)
        rule = "is required"
    elif error.validator == "additionalProperties":
        extra = sorted(additional_keys(error.schema, error.instance))
        path.append(extra[0] if extra else "?")
        rule = f"is not a known {noun}"
    elif error.validator == "not" and _forbids_required(error.validator_value):
        path.append(next((f for f in error.validator_value["required"] if f in instance), "?"))
        reason = error.schema.get("description") if isinstance(error.schema, dict) else None
        rule = f"is not allowed here: {reason}" if isinstance(reason, str) else "is not allowed here"
    else:
        rule = f"fails '{error.validator}': {_rule_text(error)}"
    return rule, ".".join(path)


@functools.cache
def _unresolvable() -> type[Exception]:
    """referencing's error for a reference that does not resolve, imported once."""
    from referencing.exceptions import Unresolvable

    return Unresolvable


@functools.cache
def _best_match() -> Callable[..., jsonschema.ValidationError | None]:
    """jsonschema's ``best_match``, imported once (an import statement per call costs a
    fifth of checking a call's credentials)."""
    from jsonschema.exceptions import best_match

    return best_match


def _forbids_required(subschema: object) -> TypeGuard[dict[str, Any]]:
    """``{"not": {"required": [...]}}``: the schema's way of saying a field must be absent."""
    return isinstance(subschema, dict) and set(subschema) == {"required"}


def _rule_text(error: jsonschema.ValidationError) -> str:
    if error.validator in ("anyOf", "oneOf"):
        return "matches none of the allowed forms"  # its subschemas would be no help to read
    value = error.validator_value
    return f"expected {value}" if isinstance(value, str | int | float | list) else "invalid value"


async def run_in_sandbox(
    supervisor: Supervisor, call: Call, *, invocation_id: str | None = None, **options: Any
) -> InvocationResult:
    """Check ``call`` against the connectors' descriptions (raises InvalidCallError and
    the lookup errors, as ``check_call``), refuse credentials that break the connector's
    schema without running it, and run it in a sandboxed worker with its secrets masked.
    ``options``: those of ``Supervisor.invoke``."""
    invocation_id = invocation_id or uuid.uuid4().hex
    try:
        await supervisor.ensure_described()
    except ZygoteError as exc:
        log.error("cannot run %s: %s", call.connector, exc)
        return InvocationResult(invocation_id, Crashed(), [], 0.0)
    info = check_call(supervisor.catalog, call)
    refused = refuse_credentials(info, call)
    return await supervisor.invoke(
        call, redactor_for(info, call), refused=refused, invocation_id=invocation_id, **options
    )
