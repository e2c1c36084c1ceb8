"""Call one connector's hooks through the server's checks: in this process, or in the
real sandbox (a supervisor on an event loop of its own, so tests stay synchronous)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol, TypeVar

from connectord.plugins.manager import Selection, load_connectors
from connectord.plugins.types import ConnectorInfo, SelectQuery
from connectord.runtime.calls import run_call, run_in_sandbox
from connectord.sandbox.calls import Call
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.outcomes import Outcome, Rejected, Succeeded
from connectord.sandbox.policy import SandboxPolicy
from connectord.sandbox.supervisor import InvocationResult, Supervisor

T = TypeVar("T")


class Runner(Protocol):
    """Runs checked calls of installed connectors."""

    def info(self, connector: str) -> ConnectorInfo:
        """The connector's description (raises UnknownConnectorError, naming a load failure)."""
        ...

    def run(self, call: Call, timeout: float | None = None) -> InvocationResult:
        """Check ``call`` as the server does (raises InvalidCallError) and run it; a
        rejection carries the connector's traceback, redacted."""
        ...

    def close(self) -> None: ...


class InProcessRunner:
    """Imports the connectors into this process and calls them directly: fast, with the
    same checks and redaction, but no sandbox (no deadline, limits or confinement)."""

    def __init__(self, selection: Selection | None = None) -> None:
        self.registry = load_connectors(selection or Selection())

    def info(self, connector: str) -> ConnectorInfo:
        return self.registry.get(connector).info

    def run(self, call: Call, timeout: float | None = None) -> InvocationResult:
        started = time.monotonic()
        outcome = run_call(self.registry, call, debug=True)
        return InvocationResult(uuid.uuid4().hex, outcome, [], time.monotonic() - started)

    def close(self) -> None:
        pass


class SandboxRunner:
    """Runs every call in a sandboxed worker, as ``connectord serve`` does, with the
    configured policy (deadlines, limits, Landlock, egress)."""

    def __init__(
        self,
        selection: Selection | None = None,
        policy: SandboxPolicy | None = None,
        egress_allow: Sequence[str] = (),
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="connectord-sandbox", daemon=True)
        self._thread.start()
        self.supervisor = Supervisor(selection, policy, Cgroups.detect(), egress_allow)
        try:
            self._wait(self.supervisor.start())
        except BaseException:
            self.close()
            raise

    def info(self, connector: str) -> ConnectorInfo:
        return self.supervisor.catalog.get(connector).info

    def run(self, call: Call, timeout: float | None = None) -> InvocationResult:
        return self._wait(run_in_sandbox(self.supervisor, call, timeout=timeout, debug=True))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            try:
                self._wait(self.supervisor.close())
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join()
        self._loop.close()

    def _wait(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()


class CallFailed(AssertionError):
    """A hook call that did not succeed; its message shows the outcome and the connector's
    own traceback (secrets masked)."""

    def __init__(self, call: Call, outcome: Outcome) -> None:
        self.call = call
        self.outcome = outcome
        super().__init__(describe_failure(call, outcome))


def describe_failure(call: Call, outcome: Outcome) -> str:
    """One paragraph on what went wrong, then the connector's traceback when there is one."""
    where = f"{call.connector}.{call.method}"
    if isinstance(outcome, Rejected):
        field = f" (field {outcome.field})" if outcome.field else ""
        text = f"{where} was rejected: {outcome.error_type}: {outcome.message}{field}"
        if outcome.traceback:
            text += f"\n\nThe connector's traceback (secrets masked):\n{outcome.traceback.rstrip()}"
        return text
    return f"{where} ended {type(outcome).__name__}: {outcome}"


class ConnectorHarness:
    """One connector's hooks as methods that return what the hook answered (as the API
    would: plain JSON data) or raise :class:`CallFailed`::

        def test_lists(connectord_harness):
            acme = connectord_harness("acme")
            page = acme.select_model("create_contact", "lists", {"api_key": "ak_1"}, limit=2)
            assert [o["value"] for o in page["options"]] == ["0", "1"]

    A call the server would refuse as a bad request (unknown action, ``cfg`` against the
    action's ``config_schema``) raises ``connectord.runtime.calls.InvalidCallError``.
    """

    def __init__(self, runner: Runner, connector: str) -> None:
        self.runner = runner
        self.connector = connector

    @property
    def info(self) -> ConnectorInfo:
        """The connector's description, as the server checked it."""
        return self.runner.info(self.connector)

    def verify_credentials(self, credentials: dict[str, Any]) -> dict[str, Any]:
        """``{"verified", "message", "failure"}``."""
        __tracebackhide__ = True
        return self._answer("verify_credentials", credentials=credentials)

    def select_model(
        self,
        action: str,
        method: str,
        credentials: dict[str, Any] | None = None,
        cfg: dict[str, Any] | None = None,
        *,
        search: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> dict[str, Any]:
        """One page of options: ``{"options": [{"value", "label"}], "next_cursor"}``."""
        __tracebackhide__ = True
        query = SelectQuery(search=search, cursor=cursor, limit=limit)
        return self._answer(
            "select_model", credentials=credentials, action=action, model_method=method, cfg=cfg, query=query
        )

    def get_meta_model(
        self, action: str, credentials: dict[str, Any] | None = None, cfg: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """``{"in": JSON schema, "out": JSON schema}``."""
        __tracebackhide__ = True
        return self._answer("get_meta_model", credentials=credentials, action=action, cfg=cfg)

    def run_job(
        self, job_type: str, params: dict[str, Any] | None = None, credentials: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """``{"data", "outputs"}``."""
        __tracebackhide__ = True
        return self._answer("run_job", credentials=credentials, action=job_type, cfg=params)

    def call(self, method: str, *, timeout: float | None = None, **fields: Any) -> InvocationResult:
        """Run one hook and return its whole result (outcome, logs, seconds) whatever it is:
        for tests of failures. ``fields`` are those of ``connectord.sandbox.calls.Call``."""
        return self.runner.run(self._call(method, fields), timeout)

    def _answer(self, method: str, **fields: Any) -> Any:
        """What a successful call answered; raises CallFailed for any other outcome."""
        __tracebackhide__ = True
        call = self._call(method, fields)
        outcome = self.runner.run(call).outcome
        if isinstance(outcome, Succeeded):
            return outcome.data
        raise CallFailed(call, outcome)

    def _call(self, method: str, fields: dict[str, Any]) -> Call:
        given = {k: v for k, v in fields.items() if v is not None}
        return Call(connector=self.connector, method=method, **given)  # type: ignore[arg-type]


def configured_sandbox(selection: Selection, config_file: str | None = None) -> SandboxRunner:
    """A SandboxRunner with the configuration ``connectord call`` would use: the
    environment's (``CONNECTORD_CONFIG``, ``CONNECTORD_EGRESS_ALLOW``), or ``config_file``."""
    from pathlib import Path

    from connectord.runtime.config import settings_from_env
    from connectord.runtime.configured import configured

    settings = settings_from_env().with_overrides(
        connectors=selection, config_file=Path(config_file) if config_file else None
    )
    settings, policy = configured(settings)
    return SandboxRunner(settings.connectors, policy, settings.egress_allow)
