"""The zygote: a small single-threaded process that imports one connector once, freezes
its heap and forks a worker per request of the supervisor.

It confines itself before the connector's first line runs (sandbox/enclosure.py), holds
no secrets (the supervisor starts it with an empty environment and sends call inputs
straight to the workers), no database handles and no listening sockets. It dies with the
supervisor (PR_SET_PDEATHSIG), and so do its workers. Told to ``describe``, it sends the
connector's description and exits: that is how the server learns what a connector offers
without importing it anywhere else.

Started by ``ZygoteClient`` (sandbox/zygote_client.py: ``ZYGOTE_COMMAND``) with
``CONTROL_FD PARENT_PID``, without ``site``.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import os
import select
import signal
import socket
import sys
from collections import deque
from typing import NoReturn

import msgspec

from connectord.plugins.manager import ConnectorRegistry, load_sources, target_source
from connectord.sandbox import isolation
from connectord.sandbox.channel import Channel
from connectord.sandbox.confinement import Preparations, Prepared, remove_trees
from connectord.sandbox.enclosure import Unusable, enclose
from connectord.sandbox.protocol import (
    ControlIn,
    FrameBuffer,
    Hello,
    Importing,
    Misconfigured,
    Ready,
    Reaped,
    Spawn,
    Spawned,
    SpawnFailed,
    Unconfined,
    decode,
    frame,
)
from connectord.sandbox.worker import WorkerKit, run_worker

_decoder = msgspec.msgpack.Decoder(ControlIn)


def main(argv: list[str]) -> None:
    control = socket.socket(fileno=int(argv[1]))
    # SIGTERM, not SIGKILL: the zygote first kills what its workers started (below).
    isolation.die_with_parent(int(argv[2]), signal.SIGTERM)
    # Every later worker is forked from us: a process of the same user that could write
    # our memory (/proc/PID/mem) would run its code in all of them.
    isolation.forbid_inspection()
    hello = Channel(control, _decoder).receive()
    assert isinstance(hello, Hello)
    sys.path[:] = hello.sys_path
    try:
        enclose(hello, control.fileno())
    except OSError as exc:
        control.sendall(frame(Unconfined(exc.strerror or str(exc))))
        os._exit(1)
    except Unusable as exc:
        control.sendall(frame(Misconfigured(str(exc))))
        os._exit(1)
    sys.path.extend(hello.connector_path)
    control.sendall(frame(Importing()))
    source = hello.source
    # Describing is where a description's schemas are checked: a zygote imports a connector
    # the server accepted, and holds no validator (each module it holds slows every fork).
    target = target_source(source.name, source.origin, source.target)
    registry = load_sources([target], check_schemas=hello.describe)
    if hello.describe:
        control.sendall(frame(Ready(os.getpid(), registry.catalog())))
        isolation.kill_descendants()  # what its import code started goes with it
        os._exit(0)
    singles = _prepare(registry)
    kit = WorkerKit()
    gc.collect()
    gc.freeze()  # workers then never touch (and copy) the pages of what is loaded now
    control.sendall(frame(Ready(os.getpid(), registry.catalog())))
    Zygote(control, singles, kit).run()


def _prepare(registry: ConnectorRegistry) -> dict[str, ConnectorRegistry]:
    """Everything a worker would otherwise build after the fork (and pay for in copied
    pages): a one-connector registry each, and asyncio where a hook is a coroutine."""
    if _has_coroutine_hooks(registry):
        import asyncio

        asyncio.new_event_loop().close()
    return {cid: registry.only(cid) for cid in registry.connectors}


def _has_coroutine_hooks(registry: ConnectorRegistry) -> bool:
    callers = [
        caller
        for connector in registry.connectors.values()
        for caller in registry.pm.get_hookcallers(connector.plugin) or ()
    ]
    return any(inspect.iscoroutinefunction(impl.function) for c in callers for impl in c.get_hookimpls())


class Zygote:
    def __init__(
        self, control: socket.socket, registries: dict[str, ConnectorRegistry], kit: WorkerKit
    ) -> None:
        self.control = control
        self.registries = registries
        self.kit = kit
        self.preparations = Preparations(kit.system_paths)
        self.frames = FrameBuffer()
        #: Live workers and their temporary directories, removed once they have ended.
        self.workers: dict[int, tuple[str, ...]] = {}
        # Each Spawn frame was sent with its descriptors (1 + its cgroups), in order.
        self.fds: deque[int] = deque()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: self._orphaned())

    def run(self) -> None:
        # epoll itself, not ``selectors``: the Python code this loop runs between two forks
        # writes pages the last fork shared with a live worker, each then copied.
        poller = select.epoll()
        handlers = {self.control.fileno(): self._on_control, self.wake_r: self._on_signal}
        for fd in handlers:
            poller.register(fd, select.EPOLLIN)
        while True:
            for fd, _ in poller.poll():
                handlers[fd]()

    def _on_control(self) -> None:
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.control, 65536, 16)
        except OSError:
            data, fds = b"", []
        if not data:
            self._orphaned()
        self.fds.extend(fds)
        for body in self.frames.feed(data):
            message = decode(_decoder, body)
            if isinstance(message, Spawn):
                if len(self.fds) < 1 + message.cgroups:
                    self._send(SpawnFailed(message.token, "spawn request carried too few descriptors"))
                    continue
                fd = self.fds.popleft()
                self._spawn(message, fd, [self.fds.popleft() for _ in range(message.cgroups)])

    def _spawn(self, request: Spawn, fd: int, cgroups: list[int]) -> None:
        registry = self.registries.get(request.connector)
        prepared = self.preparations.prepare(request, cgroups)
        if registry is None:
            os.close(fd)
            self._abandon(prepared)
            self._send(SpawnFailed(request.token, f"connector '{request.connector}' is not loaded"))
            return
        zygote_pid = os.getpid()
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(fd)
            self._abandon(prepared)
            self._send(SpawnFailed(request.token, f"fork failed: {exc.strerror}"))
            return
        if pid == 0:
            self.control.close()
            os.close(self.wake_r)
            os.close(self.wake_w)
            run_worker(fd, zygote_pid, registry, request, self.kit, prepared)
        os.close(fd)
        self.preparations.forked(prepared)
        self.workers[pid] = prepared.temporary
        self._send(Spawned(request.token, pid))

    def _abandon(self, prepared: Prepared) -> None:
        self.preparations.forked(prepared)
        remove_trees(prepared.temporary)

    def _on_signal(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self.wake_r, 512)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            temporary = self.workers.pop(pid, None)
            if temporary is None:
                continue  # an orphan it adopted: the supervisor hears of its workers only
            remove_trees(temporary)
            if os.WIFSIGNALED(status):
                self._send(Reaped(pid, signal=os.WTERMSIG(status)))
            else:
                self._send(Reaped(pid, exit_code=os.waitstatus_to_exitcode(status)))

    def _orphaned(self) -> NoReturn:
        """The supervisor is gone: nothing it started may outlive it, grandchildren that
        left their worker's group included (orphans are ours: we adopt them)."""
        for pid in self.workers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        isolation.kill_descendants()
        os._exit(0)

    def _send(self, message: msgspec.Struct) -> None:
        self.control.sendall(frame(message))


if __name__ == "__main__":
    main(sys.argv)
