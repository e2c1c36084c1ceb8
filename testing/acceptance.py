"""The acceptance suite of ``connectord check``: what every connector must do, whatever it
talks to. Each check calls the connector through a Runner (the sandbox, for ``check``)
and ends passed, failed (with the reason) or skipped (with what it would need)."""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

import msgspec

from connectord.plugins.descriptor import DescriptorError, check_descriptor
from connectord.plugins.manager import HookNotImplementedError, UnknownConnectorError
from connectord.plugins.types import MAX_PAGE, ConnectorInfo, Operation, SelectQuery
from connectord.runtime.calls import InvalidCallError
from connectord.sandbox.calls import Call
from connectord.sandbox.outcomes import Rejected, Succeeded, TimedOut
from connectord.sandbox.redact import MASK
from connectord.sandbox.supervisor import InvocationResult
from connectord.testing.harness import Runner

Status = Literal["passed", "failed", "skipped"]
#: Options asked for per page while paging: well below MAX_PAGE, so paging is exercised.
PAGE_SIZE = 50
#: Pages read at most before a cursor counts as never ending (5,000 options).
MAX_PAGES = 100


class CheckResult(msgspec.Struct):
    """One check of the suite."""

    name: str
    status: Status
    detail: str = ""
    seconds: float = 0.0


class _Failed(Exception):
    pass


class _Skipped(Exception):
    pass


class Acceptance:
    """The suite for one connector. ``credentials`` that work (or None: the checks that
    need them are skipped), ``bad_credentials`` that must be refused, ``cfgs`` a
    configuration per action or trigger for ``get_meta_model`` (else one is made from its
    ``config_schema``: dropdown fields take the first option, others their default)."""

    def __init__(
        self,
        runner: Runner,
        connector: str,
        *,
        credentials: dict[str, Any] | None = None,
        bad_credentials: dict[str, Any] | None = None,
        cfgs: dict[str, dict[str, Any]] | None = None,
        max_pages: int = MAX_PAGES,
        progress: Callable[[CheckResult], None] = lambda _: None,
    ) -> None:
        self.runner = runner
        self.connector = connector
        self.credentials = credentials
        self.bad_credentials = bad_credentials
        self.cfgs = cfgs or {}
        self.max_pages = max_pages
        self.progress = progress
        self.results: list[CheckResult] = []
        #: Every call made, to look for secrets and missed deadlines in all of them.
        self.calls: list[tuple[str, InvocationResult]] = []
        #: The options each (operation, model method) listed, for making configurations.
        self.options: dict[tuple[str, str], list[str]] = {}
        #: The (operation, model method) whose paging ended: their options are all of them.
        self.complete: set[tuple[str, str]] = set()

    @property
    def failed(self) -> bool:
        return any(r.status == "failed" for r in self.results)

    def run(self) -> list[CheckResult]:
        """Run every check, reporting each to ``progress`` as it ends."""
        info = self._check("description and schemas", self._description)
        if info is None:
            return self.results
        for job in info.job_types:
            self._check(f"job type {job.code}: params schema", functools.partial(_valid_params_schema, job))
        self._check("verify_credentials: good credentials are verified", self._verify_good)
        self._check("verify_credentials: bad credentials are refused, not crashed", self._verify_bad)
        for op in (*info.actions, *info.triggers):
            for method in op.model_methods:
                where = f"select_model {op.name}/{method}"
                self._check(f"{where}: pages", functools.partial(self._pages, op, method))
                self._check(f"{where}: search", functools.partial(self._search, op, method))
        for op in (*info.actions, *info.triggers):
            if op.dynamic_metadata:
                check = functools.partial(self._meta, op)
                self._check(f"get_meta_model {op.name}: valid JSON schemas", check)
        self._check("secrets never come back in answers or logs", self._no_secrets)
        self._check("every call within its deadline", self._deadlines)
        return self.results

    # -- running checks and calls -------------------------------------------------------

    def _check(self, name: str, body: Callable[[], Any]) -> Any:
        started = time.monotonic()
        value = None
        try:
            value = body()
            status: Status = "passed"
            detail = value if isinstance(value, str) else ""
        except _Failed as exc:
            status, detail = "failed", str(exc)
        except _Skipped as exc:
            status, detail = "skipped", str(exc)
        result = CheckResult(name, status, detail, round(time.monotonic() - started, 3))
        self.results.append(result)
        self.progress(result)
        return value if status == "passed" else None

    def _call(self, name: str, method: str, **fields: Any) -> InvocationResult:
        call = Call(connector=self.connector, method=method, **fields)  # type: ignore[arg-type]
        try:
            result = self.runner.run(call)
        except InvalidCallError as exc:
            raise _Failed(f"{name}: the call was refused: {exc} (field {exc.field})") from None
        except HookNotImplementedError as exc:
            raise _Skipped(str(exc)) from None
        self.calls.append((name, result))
        return result

    def _succeeded(self, name: str, result: InvocationResult) -> Any:
        outcome = result.outcome
        if isinstance(outcome, Succeeded):
            return outcome.data
        rejected = outcome if isinstance(outcome, Rejected) else None
        if rejected is not None and rejected.error_type == "InvalidCredentials" and not self.credentials:
            raise _Skipped(f"needs credentials (--credentials): {rejected.message}")
        raise _Failed(f"{name}: {_outcome_text(outcome)}")

    # -- the checks ---------------------------------------------------------------------

    def _description(self) -> ConnectorInfo:
        try:
            info = self.runner.info(self.connector)
        except UnknownConnectorError as exc:
            if exc.failure is None:
                raise
            raise _Failed(f"not loaded: {exc.failure.reason}") from None
        try:
            check_descriptor(msgspec.to_builtins(info))
        except DescriptorError as exc:
            raise _Failed(str(exc)) from None
        for op in (*info.actions, *info.triggers):
            for field, method in _dropdown_fields(op):
                if method not in op.model_methods:
                    raise _Failed(
                        f"operation '{op.name}': config field '{field}' names model method '{method}', "
                        f"which it does not declare (it has: {', '.join(op.model_methods) or 'none'})"
                    )
        return info

    def _verify_good(self) -> str:
        if self.credentials is None:
            raise _Skipped("no credentials given (--credentials)")
        result = self._call("verify", "verify_credentials", credentials=self.credentials)
        data = self._succeeded("verify_credentials", result)
        if data.get("verified") is not True:
            raise _Failed(f"the credentials given were not verified: {data.get('message')}")
        return ""

    def _verify_bad(self) -> str:
        if self.bad_credentials is None:
            raise _Skipped("no bad credentials given (--bad-credentials)")
        result = self._call("verify bad", "verify_credentials", credentials=self.bad_credentials)
        if not isinstance(result.outcome, Succeeded):
            raise _Failed(
                f"bad credentials made verify_credentials fail instead of answering verified: false "
                f"(a crash is not 'invalid'): {_outcome_text(result.outcome)}"
            )
        data = result.outcome.data
        if data.get("verified") is not False:
            raise _Failed("bad credentials were verified")
        if not data.get("message"):
            raise _Failed("the refusal gives no message a person could act on")
        return f"refused: {data.get('failure', {}).get('kind')}: {data['message']}"

    def _pages(self, op: Operation, method: str) -> str:
        values, ended = self._page_through(op, method, None)
        self.options[(op.name, method)] = values
        if not ended:
            raise _Failed(f"the cursor did not end within {self.max_pages} pages of {PAGE_SIZE}")
        if 0 < len(values) < MAX_PAGE:
            whole = self._select(op, method, SelectQuery(limit=min(MAX_PAGE, len(values) + PAGE_SIZE)))
            listed = [o["value"] for o in whole["options"]]
            skipped = [v for v in listed if v not in set(values)]
            if skipped:
                raise _Failed(
                    f"paging skipped {len(skipped)} option(s) that one large page lists, e.g. {skipped[0]!r}"
                )
        self.complete.add((op.name, method))
        return f"{len(values)} option(s)"

    def _search(self, op: Operation, method: str) -> str:
        everything = self.options.get((op.name, method))
        if (op.name, method) not in self.complete:
            raise _Skipped("paging through all the options failed")
        if not everything:
            raise _Skipped("no options to search for")
        first = self._select(op, method, SelectQuery(limit=1))["options"]
        term = _search_term(first[0]["label"]) if first else ""
        if not term:
            raise _Skipped("no label to take a search term from")
        found, ended = self._page_through(op, method, term)
        if not ended:
            raise _Failed(f"searching {term!r}: the cursor did not end within {self.max_pages} pages")
        strangers = [v for v in found if v not in set(everything)]
        if strangers:
            raise _Failed(f"searching {term!r} answered options the full list lacks, e.g. {strangers[0]!r}")
        return f"{term!r}: {len(found)} option(s)"

    def _page_through(self, op: Operation, method: str, search: str | None) -> tuple[list[str], bool]:
        """Every option value paging yields, and whether the cursor ended; a repeated
        option or cursor, or a page larger than asked, fails."""
        values: list[str] = []
        seen: set[str] = set()
        cursors: set[str] = set()
        cursor: str | None = None
        for page_number in range(1, self.max_pages + 1):
            page = self._select(op, method, SelectQuery(search=search, cursor=cursor, limit=PAGE_SIZE))
            options = page["options"]
            if len(options) > PAGE_SIZE:
                raise _Failed(f"page {page_number} holds {len(options)} options; {PAGE_SIZE} were asked for")
            for option in options:
                if option["value"] in seen:
                    raise _Failed(f"option {option['value']!r} came back again on page {page_number}")
                seen.add(option["value"])
                values.append(option["value"])
            cursor = page.get("next_cursor")
            if cursor is None:
                return values, True
            if cursor in cursors:
                raise _Failed(f"page {page_number} gave a cursor an earlier page gave: it would never end")
            cursors.add(cursor)
        return values, False

    def _select(self, op: Operation, method: str, query: SelectQuery) -> dict[str, Any]:
        name = f"select_model {op.name}/{method}"
        result = self._call(
            name,
            "select_model",
            credentials=self.credentials or {},
            action=op.name,
            model_method=method,
            query=query,
        )
        return self._succeeded(name, result)

    def _meta(self, op: Operation) -> str:
        cfg = self.cfgs.get(op.name)
        if cfg is None:
            cfg = self._made_cfg(op)
        name = f"get_meta_model {op.name}"
        data = self._succeeded(
            name,
            self._call(name, "get_meta_model", credentials=self.credentials or {}, action=op.name, cfg=cfg),
        )
        for part in ("in", "out"):
            error = _schema_error(data.get(part))
            if error is not None:
                raise _Failed(f"its '{part}' schema is not a valid JSON schema: {error}")
        return f"cfg {json.dumps(cfg)}"

    def _made_cfg(self, op: Operation) -> dict[str, Any]:
        """A configuration from the operation's config_schema: a dropdown field takes its
        first option, another field its default; a required field with neither skips."""
        schema = op.config_schema or {}
        dropdowns = dict(_dropdown_fields(op))
        cfg: dict[str, Any] = {}
        for field, prop in schema.get("properties", {}).items():
            options = self.options.get((op.name, dropdowns.get(field, "")))
            if options:
                cfg[field] = options[0]
            elif isinstance(prop, dict) and "default" in prop:
                cfg[field] = prop["default"]
        missing = [f for f in schema.get("required", []) if f not in cfg]
        if missing:
            raise _Skipped(f"no value for required field '{missing[0]}': give one with --cfg {op.name}=JSON")
        return cfg

    def _no_secrets(self) -> str:
        secrets = self._secret_values()
        if not secrets:
            raise _Skipped("no secret credential values given")
        for name, result in self.calls:
            texts = [json.dumps(msgspec.to_builtins(result.outcome))]
            texts += [line.message for line in result.logs]
            for text in texts:
                if MASK in text:
                    raise _Failed(f"{name}: a secret came back (the sandbox masked it as {MASK})")
                if any(secret in text for secret in secrets):
                    raise _Failed(f"{name}: a secret came back")
        return f"{len(self.calls)} call(s)"

    def _secret_values(self) -> list[str]:
        try:
            info = self.runner.info(self.connector)
        except UnknownConnectorError:
            return []
        fields = info.secret_fields()
        given = [c for c in (self.credentials, self.bad_credentials) if c]
        return [v for c in given for k, v in c.items() if k in fields and isinstance(v, str) and len(v) >= 4]

    def _deadlines(self) -> str:
        late = [name for name, result in self.calls if isinstance(result.outcome, TimedOut)]
        if late:
            raise _Failed(f"{len(late)} call(s) ran past their deadline, first: {late[0]}")
        slowest = max((result.seconds for _, result in self.calls), default=0.0)
        return f"{len(self.calls)} call(s), the slowest {slowest:.2f} s"


def _outcome_text(outcome: Any) -> str:
    if isinstance(outcome, Rejected):
        text = f"rejected: {outcome.error_type}: {outcome.message}"
        if outcome.traceback:
            text += f"\n{outcome.traceback.rstrip()}"
        return text
    return f"{type(outcome).__name__} {json.dumps(msgspec.to_builtins(outcome))}"


def _dropdown_fields(op: Operation) -> Iterator[tuple[str, str]]:
    """(field, model method) of each config field that names its dropdown with ``x-model``
    or ``x-model-method``."""
    for field, prop in (op.config_schema or {}).get("properties", {}).items():
        if isinstance(prop, dict):
            method = prop.get("x-model", prop.get("x-model-method"))
            if isinstance(method, str):
                yield field, method


def _valid_params_schema(job: Any) -> str:
    error = _schema_error(job.params_schema)
    if error is not None:
        raise _Failed(f"not a valid JSON schema: {error}")
    if job.params_schema.get("type") != "object":
        raise _Failed('it must have "type": "object"')
    return ""


def _schema_error(schema: Any) -> str | None:
    """Why ``schema`` is not a valid JSON schema (Draft 2020-12's meta-schema), or None."""
    import jsonschema

    if not isinstance(schema, dict | bool):
        return f"expected an object, got {type(schema).__name__}"
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"{exc.message} (at {'/'.join(map(str, exc.absolute_path)) or 'the root'})"
    return None


def _search_term(label: str) -> str:
    """A word of ``label`` to search for: its longest, so it is likely to narrow the list."""
    return max(re.findall(r"\w+", label), key=len, default="")
