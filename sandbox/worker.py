"""The worker: a forked child that runs hooks of one connector and answers over its socket.

It builds a plugin manager holding only its connector, so no other connector's code is
reachable from it. What the connector logs or prints goes to the supervisor as ``Log``
frames, one write per record, so a kill loses at most the record being written.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import resource
import socket
import sys
import time

import msgspec

from connectord.plugins.manager import ConnectorRegistry
from connectord.sandbox import isolation
from connectord.sandbox.bounds import (
    MAX_NAME_CHARS,
    MAX_TEXT_CHARS,
    NOT_UNICODE,
    TOO_LARGE_INTEGER,
    TOO_MANY_VALUES,
    sent_part,
    shape_problem,
    without_surrogates,
)
from connectord.sandbox.calls import RESULT_TYPES, invoke_hook, warm_result_type
from connectord.sandbox.channel import Channel
from connectord.sandbox.confinement import Prepared
from connectord.sandbox.outcomes import MemoryExceeded, Outcome, Rejected, Succeeded
from connectord.sandbox.protocol import (
    HEADER,
    MAX_FRAME,
    Limits,
    Log,
    Placed,
    Reply,
    Request,
    Spawn,
    WorkerIn,
    frame,
)


class WorkerKit:
    """What the zygote prepares once for all its workers, so that a worker does not build
    it after the fork (where every page it touches is copied): the log capture, already
    installed, and the address space a worker starts with."""

    def __init__(self) -> None:
        self.log_handler = _FrameHandler()
        _capture_logs(self.log_handler)
        self.address_space = isolation.address_space()
        #: What a worker confined with Landlock may still read (see isolation.system_paths).
        self.system_paths = isolation.system_paths()
        self.requests = msgspec.msgpack.Decoder(WorkerIn)
        for method in RESULT_TYPES:
            warm_result_type(method)


def run_worker(
    fd: int, zygote_pid: int, registry: ConnectorRegistry, spawn: Spawn, kit: WorkerKit, prepared: Prepared
) -> None:
    """Serve ``registry`` (one connector only); never returns: the process ends with
    ``os._exit`` whatever happens. The zygote is confined already; the worker narrows that
    for itself (sandbox/confinement.py)."""
    code = 70
    try:
        os.setsid()
        isolation.die_with_parent(zygote_pid)
        isolation.forbid_inspection()
        isolation.join_cgroups(prepared.cgroups)
        isolation.reset_signals()
        refusal = _confine(prepared)  # with the zygote's descriptors, before they go
        fd = isolation.keep_only(fd)
        refusal = refusal or _limit(spawn.limits, kit)
        channel = Channel(socket.socket(fileno=fd), kit.requests)
        _install_egress(spawn.egress_allow)
        serve(channel, registry, spawn.limits, kit.log_handler, refusal)
        code = 0
    finally:
        os._exit(code)


def _install_egress(allow: list[str]) -> None:
    """The server's egress policy, for the connector's connections: installed over whatever
    the zygote's imports left there. A connector that never imported the policy and has no
    allow-list gets the default (refusing) one when it does, so it need not be imported here."""
    if not allow and "connectord.plugins.egress_policy" not in sys.modules:
        return
    from connectord.plugins import egress_policy

    # Checked when the server read its configuration: the entries parse.
    egress_policy.install(egress_policy.EgressPolicy.parse(allow))


def _confine(prepared: Prepared) -> Rejected | None:
    """Enter the worker's own Landlock domain and temporary directory; a confinement that
    cannot be had refuses every call rather than letting it run with less isolation."""
    try:
        if prepared.problem is not None:
            raise OSError(0, prepared.problem)
        if prepared.temporary:
            os.environ["TMPDIR"] = prepared.temporary[0]
            if "tempfile" in sys.modules:  # it may have looked before the fork (else: no import)
                import tempfile

                tempfile.tempdir = prepared.temporary[0]
        if prepared.ruleset is not None:
            isolation.restrict_files(prepared.ruleset, prepared.files)
    except OSError as exc:
        return _refusal(exc)
    return None


def _limit(limits: Limits, kit: WorkerKit) -> Rejected | None:
    """The resource limits, once the descriptors are dropped (RLIMIT_NOFILE bounds which
    descriptors the dropping looks at)."""
    try:
        isolation.apply_limits(limits, kit.address_space)
    except OSError as exc:
        return _refusal(exc)
    return None


def _refusal(exc: OSError) -> Rejected:
    return Rejected("SandboxError", exc.strerror or str(exc))


def serve(
    channel: Channel,
    registry: ConnectorRegistry,
    limits: Limits,
    log_handler: _FrameHandler,
    refusal: Rejected | None = None,
) -> None:
    """Answer requests until the supervisor closes the socket. The first runs only once
    the supervisor says the worker is in its cgroups: what it starts is then there too. The
    worker prepares itself meanwhile (its request was sent before the fork, its placement
    follows it), so that waiting costs it little; a worker forked ahead of its call (a
    spare) is placed before its request comes."""
    log_handler.channel = channel
    request = channel.receive()
    if isinstance(request, Placed):  # forked ahead (a spare): placed first, its call comes later
        request = channel.receive()
    elif request is not None and not isinstance(channel.receive(), Placed):
        return
    while request is not None:
        assert isinstance(request, Request)
        log_handler.invocation_id = request.invocation_id
        _renew_cpu_budget(limits)
        outcome = refusal or _run(registry, request, limits)
        _flush_prints()
        # A worker used once is killed with all it started: no need to look.
        clean = not request.pooled or _nothing_left_running()
        log_handler.invocation_id = ""  # what logs between calls belongs to no call
        channel.send_frame(_reply_frame(Reply(request.invocation_id, outcome, clean, _peak_rss())))
        request = channel.receive()


def _run(registry: ConnectorRegistry, request: Request, limits: Limits) -> Outcome:
    """The supervisor checked the call and its credentials before sending it here."""
    try:
        outcome = invoke_hook(registry, request.call, debug=request.debug)
    except MemoryError:
        outcome = Rejected("MemoryError", "")
    if isinstance(outcome, Rejected) and outcome.error_type == "MemoryError":
        return MemoryExceeded(limits.memory_bytes or 0)
    return outcome


def _nothing_left_running() -> bool:
    """No thread but ours (C threads too) and no child process: a reused worker starts clean."""
    try:
        if len(os.listdir("/proc/self/task")) > 1:
            return False
        # Asks without reaping: a child that already ended still counts.
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    except OSError:
        pass
    return False


def _reply_frame(reply: Reply) -> bytes:
    """The reply's frame. What the supervisor would refuse or what cannot be encoded is
    refused here, so the worker always answers: a result nested too deep, holding a lone
    surrogate (which UTF-8 cannot encode), an integer beyond 64 bits or more bytes than a
    frame becomes a rejection; a lone surrogate in a rejection's own texts becomes U+FFFD."""
    outcome = reply.outcome
    problem = shape_problem(outcome.data) if isinstance(outcome, Succeeded) else None
    if problem is not None:
        outcome = Rejected("ResultTooLarge" if problem == TOO_MANY_VALUES else "InvalidResult", problem)
    try:
        data = frame(_with(reply, outcome))
    except UnicodeEncodeError:
        data = frame(_with(reply, _without_surrogates(outcome)))
    except OverflowError:
        data = frame(_with(reply, Rejected("InvalidResult", TOO_LARGE_INTEGER)))
    if len(data) - HEADER.size <= MAX_FRAME:
        return data
    message = f"the result is {len(data)} bytes; at most {MAX_FRAME} bytes can be returned"
    return frame(_with(reply, Rejected("ResultTooLarge", message)))


def _with(reply: Reply, outcome: Outcome) -> Reply:
    return Reply(reply.invocation_id, outcome, reply.clean, reply.peak_rss_bytes)


def _without_surrogates(outcome: Outcome) -> Outcome:
    if isinstance(outcome, Rejected):
        field = None if outcome.field is None else without_surrogates(outcome.field)
        trace = None if outcome.traceback is None else without_surrogates(outcome.traceback)
        return Rejected(
            without_surrogates(outcome.error_type), without_surrogates(outcome.message), field, trace
        )
    return Rejected("InvalidResult", NOT_UNICODE)  # a result's data is not altered behind its back


def _log_frame(record: Log) -> bytes:
    """The record's frame, its texts cut to what the supervisor keeps of them and room past
    that for a secret the cut splits (the frame stays within MAX_LOG_FRAME); a lone
    surrogate in them becomes U+FFFD (the line is kept)."""
    message, cut = sent_part(record.message, MAX_TEXT_CHARS)
    logger, _ = sent_part(record.logger, MAX_NAME_CHARS)
    try:
        return frame(Log(record.invocation_id, record.created, record.level, logger, message, cut))
    except UnicodeEncodeError:
        logger, message = without_surrogates(logger), without_surrogates(message)
        return frame(Log(record.invocation_id, record.created, record.level, logger, message, cut))


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux counts kilobytes


def _renew_cpu_budget(limits: Limits) -> None:
    """Give each call its own CPU allowance, also in a reused (pooled) worker: the soft
    limit moves, up to the hard one (which a worker without capabilities cannot raise)."""
    if limits.cpu_seconds is None:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(usage.ru_utime + usage.ru_stime) + 1 + limits.cpu_seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


class _FrameHandler(logging.Handler):
    """Sends each record as one frame; drops records while there is no channel (in the
    zygote, which installs it before any worker exists)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)  # the root logger decides the level
        self.channel: Channel | None = None
        self.invocation_id = ""

    def emit(self, record: logging.LogRecord) -> None:
        if self.channel is None:
            return
        try:
            message = record.getMessage()
            if record.exc_info:
                # The exception's type and message only: a traceback's frames can hold secrets.
                exc = record.exc_info[1]
                message += f" [{type(exc).__name__}: {exc}]"
            record_frame = _log_frame(
                Log(self.invocation_id, record.created, record.levelno, record.name, message)
            )
            self.channel.send_frame(record_frame)
        except Exception:
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:
        pass  # never let logging break the call; a dead socket ends the worker anyway


class _PrintStream(io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr`` of the worker: each line becomes a log record."""

    def __init__(self, handler: _FrameHandler, name: str, level: int) -> None:
        self._handler, self._name, self._level = handler, name, level
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._emit(self._pending)
            self._pending = ""

    def _emit(self, line: str) -> None:
        if self._handler.channel is None:
            return
        self._handler.channel.send_frame(
            _log_frame(Log(self._handler.invocation_id, time.time(), self._level, self._name, line))
        )


def _capture_logs(handler: _FrameHandler) -> None:
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    sys.stdout = _PrintStream(handler, "stdout", logging.INFO)
    sys.stderr = _PrintStream(handler, "stderr", logging.WARNING)


def _flush_prints() -> None:
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
