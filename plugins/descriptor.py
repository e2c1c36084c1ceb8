"""Checks what ``describe_connector`` returned, so a malformed connector is refused at load
time with a reason instead of failing later inside a call."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec

from connectord.plugins.schema_cost import quadratic_keyword
from connectord.plugins.schema_patterns import (
    UnsupportedPatternError,
    pin,
    unsupported_pattern,
    validator_class,
)
from connectord.plugins.schema_refs import reference_problem
from connectord.plugins.secret_marks import bad_secret_mark
from connectord.plugins.server_errors import Invalid
from connectord.plugins.types import (
    CONNECTOR_ID_PATTERN,
    JOB_TYPE_CODE_PATTERN,
    NAME_PATTERN,
    ConnectorInfo,
    JobType,
    Operation,
)


class DescriptorError(Invalid, ValueError):
    pass


def check_descriptor(raw: Any, schemas: bool = True) -> ConnectorInfo:
    """Convert ``raw`` (a ConnectorInfo or a dict) and check it; raise DescriptorError.

    ``schemas=False`` skips checking that its JSON schemas are valid schemas, for a process
    that must stay small (a connector's own zygote) loading a connector already checked."""
    if raw is None:
        raise DescriptorError("describe_connector returned nothing")
    try:
        info = raw if isinstance(raw, ConnectorInfo) else msgspec.convert(raw, ConnectorInfo)
    except msgspec.ValidationError as exc:
        raise DescriptorError(str(exc)) from None
    _check_id(info.id)
    for label, value in (("title", info.title), ("version", info.version)):
        if not value.strip():
            raise DescriptorError(f"'{label}' must not be empty")
    schema_error = _schema_error if schemas else _no_error
    _check_credentials_schema(info.credentials_schema, schema_error)
    _check_operations([*info.actions, *info.triggers], schema_error)
    _check_job_types(info.job_types, schema_error)
    return info


SchemaCheck = Callable[[dict[str, Any]], "str | None"]


def _schema_error(schema: dict[str, Any]) -> str | None:
    """Why ``schema`` is not a valid JSON schema, or one the server cannot check safely (a
    pattern RE2 cannot compile: plugins/schema_patterns.py; a reference it cannot allow:
    plugins/schema_refs.py; a keyword too costly: plugins/schema_cost.py), or None."""
    return _invalid_schema(schema) or unsupported_part(schema)


def _invalid_schema(schema: dict[str, Any]) -> str | None:
    """Why ``schema`` is not a valid JSON schema (its metaschema says), or None."""
    import jsonschema  # here: a zygote that never checks schemas need not load it

    validator = validator_class()
    try:
        validator.check_schema(schema, format_checker=validator.FORMAT_CHECKER)
    except jsonschema.SchemaError as exc:
        if isinstance(exc.cause, UnsupportedPatternError):
            return str(exc.cause)
        return exc.message
    except RecursionError:
        return "it is nested too deeply to be checked"
    return None


def unsupported_part(schema: Any) -> str | None:
    """Where ``schema``'s references, keywords or patterns cannot be checked safely (see
    plugins/schema_refs.py, plugins/schema_cost.py and plugins/schema_patterns.py), or None."""
    return reference_problem(schema) or quadratic_keyword(schema) or unsupported_pattern(schema)


def unsupported_schemas(info: ConnectorInfo) -> str | None:
    """Why one of the connector's schemas is not a valid schema or cannot be checked
    safely, naming the schema and the place, or None. The server asks it of every
    description it receives: the description was checked in the connector's own process,
    whose code may have changed how (or switched the check off); the rest of what that
    process checked (``check_descriptor``) is asked again too."""
    schemas = described_schemas(info)
    if (problem := pin([schema for _, schema in schemas])) is not None:
        return problem
    for where, schema in schemas:
        # unsupported_part first: it names a pattern's place, the metaschema does not
        if (problem := unsupported_part(schema) or _invalid_schema(schema)) is not None:
            return f"{where}: {problem}"
    try:
        check_descriptor(info, schemas=False)
    except DescriptorError as exc:
        return str(exc)
    return None


def described_schemas(info: ConnectorInfo) -> list[tuple[str, Any]]:
    """Each JSON schema of a description, and where it is."""
    schemas = [("credentials_schema", info.credentials_schema)]
    ops = (*info.actions, *info.triggers)
    schemas += [(f"operation '{op.name}': config_schema", op.config_schema) for op in ops]
    schemas += [(f"job type '{job.code}': params_schema", job.params_schema) for job in info.job_types]
    return schemas


def _no_error(schema: dict[str, Any]) -> str | None:
    return None


def _check_id(connector_id: str) -> None:
    if not re.fullmatch(CONNECTOR_ID_PATTERN, connector_id):
        raise DescriptorError(
            f"id {connector_id!r} must match {CONNECTOR_ID_PATTERN} (lowercase letters, digits, - and _)"
        )


def _check_credentials_schema(schema: dict[str, Any], schema_error: SchemaCheck) -> None:
    if (error := schema_error(schema)) is not None:
        raise DescriptorError(f"credentials_schema is not a valid JSON schema: {error}")
    if schema.get("type") != "object":
        raise DescriptorError('credentials_schema must have "type": "object"')
    for name, prop in schema.get("properties", {}).items():
        if "secret" in prop and not isinstance(prop["secret"], bool):
            raise DescriptorError(f"credentials_schema property '{name}': 'secret' must be true or false")


def _check_operations(ops: list[Operation], schema_error: SchemaCheck) -> None:
    seen: set[str] = set()
    for op in ops:
        if not re.fullmatch(NAME_PATTERN, op.name):
            raise DescriptorError(f"operation name {op.name!r} must match {NAME_PATTERN}")
        if op.name in seen:
            raise DescriptorError(f"operation '{op.name}' is declared twice")
        seen.add(op.name)
        for method in op.model_methods:
            if not re.fullmatch(NAME_PATTERN, method):
                raise DescriptorError(
                    f"operation '{op.name}': model method {method!r} must match {NAME_PATTERN}"
                )
        for cached, seconds in op.cache_seconds.items():
            if cached != "get_meta_model" and cached not in op.model_methods:
                raise DescriptorError(
                    f"operation '{op.name}': cache_seconds names '{cached}', which is neither "
                    "get_meta_model nor one of its model methods"
                )
            if not 0 < seconds <= 7 * 24 * 3600:
                raise DescriptorError(
                    f"operation '{op.name}': cache_seconds['{cached}'] must be more than 0 and at most 604800"
                )
        if op.config_schema and (error := schema_error(op.config_schema)) is not None:
            raise DescriptorError(f"operation '{op.name}': config_schema: {error}")


def _check_job_types(job_types: list[JobType], schema_error: SchemaCheck) -> None:
    seen: set[str] = set()
    for job in job_types:
        if not re.fullmatch(JOB_TYPE_CODE_PATTERN, job.code):
            raise DescriptorError(f"job type code {job.code!r} must match {JOB_TYPE_CODE_PATTERN}")
        if job.code in seen:
            raise DescriptorError(f"job type '{job.code}' is declared twice")
        seen.add(job.code)
        if not job.title.strip():
            raise DescriptorError(f"job type '{job.code}': 'title' must not be empty")
        where = f"job type '{job.code}': params_schema"
        if (error := schema_error(job.params_schema)) is not None:
            raise DescriptorError(f"{where} is not a valid JSON schema: {error}")
        if job.params_schema.get("type") != "object":
            raise DescriptorError(f'{where} must have "type": "object"')
        bad = bad_secret_mark(job.params_schema)
        if bad is not None:
            raise DescriptorError(f"{where} at {bad}: 'secret' must be true or false")
