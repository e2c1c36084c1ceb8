"""The hooks a connector implements. These docstrings are the connector author's reference.

A connector is a module (or any object) with functions marked ``@connectord.hookimpl``,
published under the entry point group ``connectord.connectors``::

    [project.entry-points."connectord.connectors"]
    myshop = "myshop_connector"

Rules that hold for every hook:

* A hook takes only the arguments it names: pluggy passes each implementation the subset
  of the spec's arguments it declares, so ``def verify_credentials(credentials)`` is fine.
* A hook may be ``def`` or ``async def``; the runtime awaits a coroutine in its own loop.
* Return the documented Struct from :mod:`connectord` or an equivalent dict; anything
  else is reported to the caller as an invalid result.
* Raise :class:`connectord.ConnectorError` (or ``ConfigError`` / ``UpstreamError``) with a
  message for the user when you cannot answer. Any exception is turned into a *Rejected*
  outcome carrying its type and message, never into "credentials invalid"; secret values
  are redacted from that message. Do not put secrets into messages all the same.
* Only the connector addressed by a call is invoked; hooks never run for other connectors.
* ``credentials`` has been checked against your ``credentials_schema`` before the call,
  so required fields are present and of the declared type.
"""

from __future__ import annotations

from typing import Any

from connectord.plugins.markers import hookspec
from connectord.plugins.types import (
    ConnectorInfo,
    JobResult,
    MetaModel,
    SelectQuery,
    SelectResult,
    VerifyResult,
)


@hookspec(firstresult=True)
def describe_connector() -> ConnectorInfo:  # type: ignore[empty-body]
    """Describe the connector: who it is and what it offers.

    Return a :class:`connectord.ConnectorInfo` with:

    * ``id``: lowercase, ``[a-z][a-z0-9_-]*``; unique among installed connectors. It is how
      callers address the connector (``component`` in the exec API).
    * ``title``, ``version``, ``description``.
    * ``credentials_schema``: JSON schema (type ``object``) of the credential fields. Mark
      secret properties with ``"secret": true``; they are encrypted at rest, masked in API
      responses and redacted from logs and error messages.
    * ``actions`` and ``triggers``: :class:`connectord.Operation` entries. Set
      ``dynamic_metadata=True`` where :func:`get_meta_model` computes the schemas, and list
      in ``model_methods`` the :func:`select_model` methods its dropdowns call. Where an
      answer stays true for a while (a shop's categories, a table's columns), declare it in
      ``cache_seconds`` (``{"get_meta_model": 300, "tables": 60}``): the server then answers
      repeated calls from its cache, per account, until a caller asks for
      ``cfg.force_refresh``.
    * ``job_types``: :class:`connectord.JobType` entries, the units of work
      :func:`run_job` runs: a ``code`` unique across all installed connectors, a
      ``params_schema`` (secret params marked ``"secret": true``) and ``needs_account``.

    The server checks tenants' input against these schemas (Draft 2020-12) itself, so what
    they may use is bounded, and a schema beyond it makes the connector fail to load, with
    the reason: ``$ref`` only as a JSON pointer within the schema (``#/$defs/...``; no
    ``$id`` below the root, no ``$dynamicRef``, nothing fetched), references that do not
    multiply (at most 2,000 values, references followed), no ``unevaluatedProperties`` or
    ``unevaluatedItems``, patterns RE2 can match (no lookaround or backreferences) within
    2 MiB each, and all of a description's patterns compiled within 0.5 s of CPU. One
    input's check may apply 2,000 keywords; an input that needs more is refused. A whole
    description holds at most 1 MiB and 50,000 values (objects, arrays, keys, strings,
    numbers; the three bundled connectors hold about 1,000 together).

    This hook must be cheap and must not do I/O: it is called when connectors are loaded.
    """


@hookspec(firstresult=True)
def verify_credentials(credentials: dict[str, Any]) -> VerifyResult:  # type: ignore[empty-body]
    """Check that ``credentials`` work against the real service.

    Return ``connectord.verified()`` or ``connectord.not_verified(kind, message, field)``
    where ``kind`` is ``"auth"`` (the service refused them), ``"network"`` (it could not be
    reached) or ``"config"`` (a field is malformed), and ``field`` names the credential
    field at fault when you know it. Say precisely why: "password authentication failed
    for user 'shop'" helps, "invalid credentials" does not.

    Raise only when the check itself broke (a bug, an unexpected answer): that is reported
    as a failed call, which is different from credentials that are wrong.
    """


@hookspec(firstresult=True)
def select_model(  # type: ignore[empty-body]
    action: str,
    method: str,
    credentials: dict[str, Any],
    cfg: dict[str, Any],
    query: SelectQuery,
) -> SelectResult:
    """Return the options of a dropdown of ``action``'s configuration.

    ``method`` is one of the names the action lists in ``model_methods`` (the runtime
    refuses any other before calling you). ``cfg`` holds the node's configuration so far,
    so one dropdown may depend on another (the tables of the chosen schema, say); what it
    holds fits the action's ``config_schema``, but required fields may still be missing.

    ``query`` is a :class:`SelectQuery` Struct, not a dict (``query.search``, not
    ``query["search"]``); it carries an optional ``search`` term, a ``cursor`` (``None`` for the first
    page, else the ``next_cursor`` you returned) and a ``limit``. Filter and page at the
    source when it can, so sources with thousands of options stay fast; return
    ``SelectResult(options=[Option(value, label), ...], next_cursor=...)`` with
    ``next_cursor=None`` on the last page. The cursor is opaque to callers: encode in it
    whatever you need (a page number, an offset, the last key).
    """


@hookspec(firstresult=True)
def get_meta_model(  # type: ignore[empty-body]
    action: str,
    credentials: dict[str, Any],
    cfg: dict[str, Any],
) -> MetaModel:
    """Return the JSON schemas of what ``action`` takes in and gives out for ``cfg``.

    Called only for operations declared with ``dynamic_metadata=True``. Return
    ``MetaModel(in_=<JSON schema>, out=<JSON schema>)`` (serialised as ``{"in": ..., "out":
    ...}``). ``cfg`` has been checked against the action's ``config_schema``, required
    fields included, before you are called. Raise :class:`connectord.ConfigError` naming
    the ``cfg`` field when the configuration points at something that does not exist.
    """


@hookspec(firstresult=True)
def run_job(  # type: ignore[empty-body]
    job_type: str,
    params: dict[str, Any],
    credentials: dict[str, Any],
) -> JobResult:
    """Run one job of the job type ``job_type`` (a ``code`` of your ``job_types``) and
    return what it produced.

    Jobs run in the sandbox like every other hook, under a deadline of their own (300 s
    unless the server's configuration or the job definition's ``timeoutSeconds`` says
    otherwise); past it the worker is killed and
    the job fails as timed out, so split work that may take longer.

    * ``params`` have been validated against the job type's ``params_schema`` before the
      call: required fields are present and of the declared type. Defaults written in the
      schema are not filled in; apply them yourself.
    * ``credentials`` are the stored account's (checked against ``credentials_schema``)
      when the job type says ``needs_account=True``, and ``{}`` otherwise.

    Return ``JobResult(data=..., outputs={...})``: ``data`` is the job's result, any JSON
    value; ``outputs`` are named values a process scheduler reads as ``__out_<name>`` to
    feed later steps (a count, a status, an id). Both must be JSON: the runtime refuses
    anything else as an invalid result. Dates, decimals and bytes are turned into strings.

    Raise :class:`connectord.ConnectorError` (``ConfigError`` for bad params, naming the
    field as ``params.<name>``; ``UpstreamError`` when the service failed) to fail the job
    with a message for its user; any other exception fails it too. A failed job is retried
    as its definition's retry policy says, and a job whose worker died may be queued again,
    so be idempotent where you can (upsert rather than insert, check before you create).

    What you log (``logging``) or print is kept with the job's result, one line per record,
    capped at 1,000 lines of 4,000 characters; secret credentials and secret params are
    redacted from logs, messages and the result alike. Do not log them all the same.
    """
