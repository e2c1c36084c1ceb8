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
from connectord.runtime.calls import RESULT_TYPES, invoke_hook, warm_result_type
from connectord.runtime.outcomes import MemoryExceeded, Outcome, Rejected
from connectord.sandbox import isolation
from connectord.sandbox.channel import Channel
from connectord.sandbox.confinement import Prepared
from connectord.sandbox.protocol import HEADER, MAX_FRAME, Limits, Log, Reply, Request, Spawn, frame


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
        self.requests = msgspec.msgpack.Decoder(Request)
        for method in RESULT_TYPES:
            warm_result_type(method)


def run_worker(
    fd: int, zygote_pid: int, registry: ConnectorRegistry, spawn: Spawn, kit: WorkerKit, prepared: Prepared
) -> None:
    """Serve ``registry`` (one connector only); never returns: the process ends with
    ``os._exit`` whatever happens."""
    code = 70
    try:
        os.setsid()
        isolation.die_with_parent(zygote_pid)
        isolation.forbid_inspection()
        isolation.join_cgroups(spawn.cgroups)
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
    """Apply the confinements; one that cannot be had refuses every call rather than
    letting it run with less isolation than configured. The seccomp filter and dropping
    the capabilities come last: they refuse the mounts and namespaces the steps before need."""
    try:
        if prepared.problem is not None:
            raise OSError(0, prepared.problem)
        if prepared.mounts is not None:
            isolation.enter_view(*prepared.mounts)
        if prepared.network is not None:
            isolation.enter_network(prepared.network)
        elif prepared.cut_network:
            isolation.cut_network()
        if prepared.files is not None:
            isolation.restrict_files(prepared.files)
        if prepared.syscalls is not None:
            isolation.filter_syscalls(prepared.syscalls)
        isolation.drop_capabilities()
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
    """Answer requests until the supervisor closes the socket."""
    log_handler.channel = channel
    while (request := channel.receive()) is not None:
        assert isinstance(request, Request)
        log_handler.invocation_id = request.invocation_id
        _renew_cpu_budget(limits)
        outcome = refusal or _run(registry, request, limits)
        _flush_prints()
        # A worker used once is killed with all it started: no need to look.
        clean = not request.pooled or _nothing_left_running()
        log_handler.invocation_id = ""  # what logs between calls belongs to no call
        channel.send_frame(_reply_frame(Reply(request.invocation_id, outcome, clean, _peak_rss())))


def _run(registry: ConnectorRegistry, request: Request, limits: Limits) -> Outcome:
    """The supervisor checked the call and its credentials before sending it here."""
    try:
        outcome = invoke_hook(registry, request.call)
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
    """The reply's frame, or a rejection's when the reply would not fit in one frame."""
    data = frame(reply)
    if len(data) - HEADER.size <= MAX_FRAME:
        return data
    message = f"the result is {len(data)} bytes; at most {MAX_FRAME} bytes can be returned"
    rejected = Rejected("ResultTooLarge", message)
    return frame(Reply(reply.invocation_id, rejected, reply.clean, reply.peak_rss_bytes))


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
            self.channel.send(Log(self.invocation_id, record.created, record.levelno, record.name, message))
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
        self._handler.channel.send(
            Log(self._handler.invocation_id, time.time(), self._level, self._name, line)
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
