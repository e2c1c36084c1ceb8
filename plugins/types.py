"""What connectors describe and return: plain data, the same shape whichever connector answers.

Hooks may return these Structs or equivalent dicts; the runtime converts and validates
either into the Struct, so a connector that returns the wrong shape is reported, not passed on.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

JSONSchema = dict[str, Any]

#: How a connector id must look: it is used in URLs, CLI arguments and configuration.
CONNECTOR_ID_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
#: How action, trigger and model method names must look.
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$"
#: How a job type code must look; codes are unique across all installed connectors.
JOB_TYPE_CODE_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,127}$"

#: The largest page of dropdown options a caller may ask for.
MAX_PAGE = 1000


class Operation(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """An action or a trigger of a connector, as a flow node uses it.

    ``model_methods`` names the ``select_model`` methods its configuration dropdowns call
    (``select_model`` is called with one of these names); ``dynamic_metadata`` says that
    ``get_meta_model`` computes its input/output schema from the configuration.

    ``cache_seconds`` declares which answers may be reused, and for how long: keys are
    ``"get_meta_model"`` or model method names. A cached answer is keyed by the connector's
    version, the method, the operation, ``cfg``, the dropdown query and the account (and
    the account's last change); a caller bypasses it with ``cfg.force_refresh = true``.
    """

    name: str
    title: str
    description: str = ""
    dynamic_metadata: bool = False
    model_methods: list[str] = msgspec.field(default_factory=list)
    #: Static JSON schema of the node's configuration fields, for UIs.
    config_schema: JSONSchema = msgspec.field(default_factory=dict)
    cache_seconds: dict[str, float] = msgspec.field(default_factory=dict)

    def cache_ttl(self, method: str, model_method: str | None) -> float | None:
        """How long the answer to this call may be reused, if at all."""
        key = model_method if method == "select_model" else method
        return self.cache_seconds.get(key) if key is not None else None


class JobType(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A unit of work a connector runs on its own (``run_job``), such as calling an endpoint
    or exporting products; a job definition or a job names it by ``code``.

    ``code`` matches :data:`JOB_TYPE_CODE_PATTERN` and is unique across all installed
    connectors. ``params_schema`` is a JSON schema (Draft 2020-12, type ``object``) of the
    job's parameters; the runtime checks every job's params against it before any connector
    code runs. A property marked ``"secret": true`` holds a secret: every string in its value
    is redacted from logs, messages and results, as secret credentials are. Deeper down, on
    a schema reached through ``properties``, ``patternProperties``, ``additionalProperties``,
    ``items`` or ``prefixItems``, ``"secret": true`` marks part of a value and
    ``"secret": false`` exempts part of a marked one (see
    :mod:`connectord.plugins.secret_marks`).
    ``needs_account``: the job runs with the credentials of a stored account of this
    connector (checked against ``credentials_schema``); without it, it gets none.
    """

    code: str
    title: str
    description: str = ""
    params_schema: JSONSchema = msgspec.field(default_factory=lambda: {"type": "object", "properties": {}})
    needs_account: bool = False


class JobResult(msgspec.Struct, forbid_unknown_fields=True):
    """What a job gives back: ``data``, its result (any JSON value), and ``outputs``, named
    values a process scheduler reads (as ``__out_<name>``) to feed later steps."""

    data: Any = None
    outputs: dict[str, Any] = msgspec.field(default_factory=dict)


class ConnectorInfo(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """How a connector describes itself.

    ``credentials_schema`` is a JSON schema of type ``object``; a property marked
    ``"secret": true`` holds a secret: it is encrypted at rest, masked in responses and
    redacted from logs. ``job_types`` are the units of work it runs with ``run_job``.
    """

    id: str
    title: str
    version: str
    description: str = ""
    credentials_schema: JSONSchema = msgspec.field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )
    actions: list[Operation] = msgspec.field(default_factory=list)
    triggers: list[Operation] = msgspec.field(default_factory=list)
    job_types: list[JobType] = msgspec.field(default_factory=list)

    def operation(self, name: str) -> Operation | None:
        """The action or trigger called ``name``, if the connector has one."""
        for op in (*self.actions, *self.triggers):
            if op.name == name:
                return op
        return None

    def job_type(self, code: str) -> JobType | None:
        """The job type with this code, if the connector has one."""
        return next((job for job in self.job_types if job.code == code), None)

    def secret_fields(self) -> list[str]:
        """Names of the credential properties marked ``"secret": true``."""
        props = self.credentials_schema.get("properties", {})
        return [k for k, v in props.items() if isinstance(v, dict) and v.get("secret") is True]


class Option(msgspec.Struct, forbid_unknown_fields=True):
    """One choice of a dropdown: the value stored in the flow and the label a person reads."""

    value: str
    label: str


class SelectQuery(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Which page of options the caller wants: a search term, a cursor from the previous
    page's ``next_cursor`` (opaque to the caller) and a page size."""

    search: str | None = None
    cursor: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE)] = 100


class SelectResult(msgspec.Struct, forbid_unknown_fields=True):
    """A page of dropdown options; ``next_cursor`` is ``None`` on the last page."""

    options: list[Option]
    next_cursor: str | None = None


class MetaModel(msgspec.Struct, forbid_unknown_fields=True):
    """The JSON schemas of what a node takes in and gives out for one configuration."""

    in_: JSONSchema = msgspec.field(name="in")
    out: JSONSchema


FailureKind = Literal["auth", "network", "config"]


class CredentialFailure(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Why credentials were not verified: ``auth`` (refused by the service), ``network``
    (service unreachable), ``config`` (a field is missing or malformed); ``field`` names the
    credential field at fault when one is."""

    kind: FailureKind
    field: str | None = None


class VerifyResult(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The answer to ``verify_credentials``: a ``message`` a person can act on, and for a
    refusal, a structured ``failure``."""

    verified: bool
    message: str = ""
    failure: CredentialFailure | None = None


def verified(message: str = "Credentials verified.") -> VerifyResult:
    """A successful verification."""
    return VerifyResult(verified=True, message=message)


def not_verified(kind: FailureKind, message: str, field: str | None = None) -> VerifyResult:
    """A refused verification of the given kind, naming the field at fault if there is one."""
    return VerifyResult(verified=False, message=message, failure=CredentialFailure(kind, field))
