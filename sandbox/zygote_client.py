"""The supervisor's handle on a connector's zygote: start it (in a cgroup of its own, told
how to confine itself before it imports the connector), ask it to fork workers, learn how
they ended. If the zygote dies it is started again on the next request.

``describe`` starts one the same way that only describes its connector and exits."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import errno
import functools
import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import msgspec

from connectord.plugins.manager import Catalog, LoadError, directory_sources
from connectord.plugins.server_errors import Internal
from connectord.sandbox.bounds import MAX_DEPTH, msgpack_shape_scan
from connectord.sandbox.cgroups import Cgroups, WorkerCgroups
from connectord.sandbox.forked import Exit, Forked, child_pidfd, move, mover, watch
from connectord.sandbox.protocol import (
    MAX_DESCRIPTION_FRAME,
    MAX_DESCRIPTION_VALUES,
    MAX_REPORT_FRAME,
    ControlOut,
    FrameBuffer,
    FrameError,
    Hello,
    Importing,
    Limits,
    Misconfigured,
    Preload,
    Ready,
    Reaped,
    Spawn,
    Spawned,
    SpawnFailed,
    Unconfined,
    ZygoteReport,
    decode,
    frame,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The whole environment the zygote (and so every worker) gets: no server secrets.
WORKER_ENV = {"PATH": os.defpath, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def _no_extension(code: int, data: memoryview) -> object:
    """A MessagePack extension value in a description reached the catalog undecoded, and
    every answer that lists connectors failed to encode it (500 for every tenant)."""
    raise msgspec.ValidationError("a MessagePack extension value")


_decoder = msgspec.msgpack.Decoder(ControlOut, ext_hook=_no_extension)
_reports = msgspec.msgpack.Decoder(ZygoteReport)
SHUTDOWN = "connectord is shutting down"


class ZygoteError(Internal):
    """The zygote could not fork a worker (it died, or fork failed)."""


class SandboxUnavailableError(ZygoteError):
    """The configuration asks for what this host cannot give: a protection it lacks, or a
    path a connector's user cannot use. The server does not start (sandbox/host.py)."""


class ZygoteDiedError(ZygoteError):
    """The zygote went away with the request (its workers die with it, so retrying is safe)."""


OrphanHandler = Callable[[Forked | None], None]


def _orphan_handler(on_orphan: OrphanHandler) -> Callable[[asyncio.Future[Forked]], None]:
    """For a spawn whose caller gave up: kill the worker as soon as it exists."""

    def handle(future: asyncio.Future[Forked]) -> None:
        if future.cancelled() or future.exception() is not None:
            on_orphan(None)  # no worker came of it
            return
        forked = future.result()
        forked.signal(signal.SIGKILL)
        on_orphan(forked)

    return handle


@dataclass(frozen=True)
class Confinement:
    """How a connector's processes are confined: its limits (``landlock`` and ``seccomp``
    resolved), the compiled seccomp filter, where cgroups come from, and its own user id
    (None: it runs as the server's user)."""

    limits: Limits
    syscall_filter: bytes = b""
    cgroups: Cgroups = dataclasses.field(default_factory=lambda: Cgroups(None, None))
    user_id: int | None = None


#: How a zygote starts: isolated (no environment variable, no user site, no script
#: directory) and without ``site`` (-S), so no ``.pth`` file and no ``sitecustomize`` of
#: this environment runs in it: an installed package's ``.pth`` runs at every start of an
#: interpreter that processes its directory, before any line of ours, unconfined. The
#: import path is given in full instead (the last argument, JSON), after Python's own
#: library and without the directories connectors are installed in (``connector_dirs``):
#: a module there named like one of Python's or connectord's (a ``msgspec/`` beside a
#: connector) would run in its place, as root, before the zygote confines itself.
ZYGOTE_COMMAND = (
    sys.executable,
    "-I",
    "-S",
    "-c",
    "import json, sys; start = json.loads(sys.argv.pop()); sys.path.extend(start['path']); "
    "sys.prefix, sys.exec_prefix = start['prefix'], start['exec_prefix']; "
    "from connectord.sandbox.zygote import main; main(sys.argv)",
)


def import_path() -> list[str]:
    """Where a zygote imports from before it has imported its connector: the server's own
    path (its site-packages as plain directories: ``site`` does not run there), but its
    working directory and the directories connectors are installed in."""
    installed = set(connector_dirs())
    return [p for p in sys.path if p and p != os.getcwd() and p not in installed]


def connector_dirs() -> list[str]:
    """The server's PYTHONPATH: where connectors are installed, as far as the server
    knows (``Selection.paths`` are the source's own)."""
    return [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p in sys.path]


def connectors_on_pythonpath() -> list[str]:
    """The directories of the server's PYTHONPATH that hold a connector (an entry point of
    ENTRY_POINT_GROUP): shared by every zygote, and by the server."""
    return [directory for directory in connector_dirs() if directory_sources(directory)]


def zygote_start() -> str:
    """The last argument of ``ZYGOTE_COMMAND``: the import path, and the prefixes ``site``
    would have set (a virtual environment's), which the zygote keeps readable."""
    return json.dumps({"path": import_path(), "prefix": sys.prefix, "exec_prefix": sys.exec_prefix})


class ZygoteClient:
    def __init__(self, source: Preload, confinement: Confinement, import_timeout: float = 20.0) -> None:
        self.source = source
        self.confinement = confinement
        self.import_timeout = import_timeout
        self.start_timeout = 60.0
        #: How often a running zygote was lost other than by a stop (it died, broke the
        #: protocol): each is started again at the next call. Read by the metrics.
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._leaf: WorkerCgroups | None = None
        self._control: socket.socket | None = None
        self._tokens = itertools.count(1)
        #: Each spawn not answered yet, and where its worker goes.
        self._spawns: dict[int, tuple[asyncio.Future[Forked], _Placement]] = {}
        self._exits: dict[int, asyncio.Future[Exit]] = {}
        #: Workers given up before they were placed, whose end the zygote still reports.
        self._gone_before_placed: set[int] = set()
        self._send_lock = asyncio.Lock()
        #: Frames (or their rests) waiting in tasks for room on the control socket.
        self._queued_sends = 0
        self._starting: asyncio.Task[None] | None = None
        #: Callers waiting for ``_starting``: the last to give up ends it.
        self._awaiting_start: Counter[asyncio.Task[None]] = Counter()
        self._frames = FrameBuffer()
        self._pidfd: int | None = None
        #: What each hidden path was when the zygote hid it (device, inode).
        self._hidden: list[tuple[int, int] | None] = []

    @property
    def pending_spawns(self) -> int:
        """Spawn requests the zygote has not answered yet (some may be of cancelled calls)."""
        return len(self._spawns)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def ensure_started(self) -> None:
        if self._control is not None and self._hidden != _identities(self.confinement.limits.hidden_paths):
            # A hidden file was replaced or created since: the zygote's mounts hide what
            # was there then. Its workers die with it; a new one hides what is there now.
            self._drop("a hidden path changed")
        if self._control is not None:
            return
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        starting = self._starting
        self._awaiting_start[starting] += 1
        try:
            await asyncio.shield(starting)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if starting.cancelled() and current is not None and not current.cancelling():
                # Not we were cancelled: the zygote was stopped while it started.
                name = self.source.name
                raise ZygoteError(f"connector {name}: its zygote was stopped as it started") from None
            if self._awaiting_start[starting] == 1 and not starting.done():
                # Nobody else waits for it: it goes (killed and reaped) before we do, and a
                # caller that comes meanwhile starts another.
                if self._starting is starting:
                    self._starting = None
                starting.cancel()
                await asyncio.wait([starting])
            raise
        finally:
            self._awaiting_start[starting] -= 1
            if not self._awaiting_start[starting]:
                del self._awaiting_start[starting]
            if self._starting is starting and starting.done():
                self._starting = None

    async def spawn(
        self,
        order: Spawn,
        sock: socket.socket,
        on_orphan: OrphanHandler,
        cgroups: WorkerCgroups,
        on_placed: Callable[[Forked], None] = lambda _: None,
    ) -> Forked:
        """Fork a worker as ``order`` says (its token is set here) that talks over ``sock``
        (closed here; the worker has its own copy), and move it into ``cgroups``; then call
        ``on_placed`` at once (the worker waits for word of it), and return it.

        A zygote that dies on the way (or breaks the protocol) raises ZygoteDiedError, and
        the next spawn starts a new one. ``sock`` is no good for another try then: the zygote
        had it, and what it or a child of it read from it (the request) is gone; a caller
        that tries again does so with a new socket. If the caller is cancelled,
        ``on_orphan`` is called exactly once, later: with the worker (already killed) if one
        was forked after all, else with None. Nothing runs unsupervised, and the caller
        learns when what it set aside can be reused."""
        handed_over: list[bool] = []
        try:
            await self.ensure_started()
            placement = _Placement(cgroups, on_placed)
            try:
                return await self._spawn_once(order, sock, on_orphan, handed_over, placement)
            except (BrokenPipeError, ConnectionResetError):
                self._drop("the zygote died")
                raise ZygoteDiedError("the zygote died") from None
        except asyncio.CancelledError:
            if not handed_over:
                asyncio.get_running_loop().call_soon(on_orphan, None)
            raise
        finally:
            sock.close()

    async def _spawn_once(
        self,
        order: Spawn,
        sock: socket.socket,
        on_orphan: OrphanHandler,
        handed_over: list[bool],
        placement: _Placement,
    ) -> Forked:
        token = next(self._tokens)
        future: asyncio.Future[Forked] = asyncio.get_running_loop().create_future()
        self._spawns[token] = (future, placement)
        fds = [os.dup(sock.fileno())]
        # No descriptor of a cgroup goes through the zygote: the supervisor moves the worker.
        order = msgspec.structs.replace(order, token=token, cgroups=0)
        # The send runs to its end even if we are cancelled: half a frame on the control
        # socket would break the zygote for everyone. It works on its own copies of the fds.
        sending = self._send_frame(frame(order), fds)
        try:
            if sending is not None:
                await asyncio.shield(sending)
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(_orphan_handler(on_orphan))
            handed_over.append(True)
            raise
        finally:
            if future.done():
                self._spawns.pop(token, None)

    @property
    def leaf(self) -> WorkerCgroups | None:
        """The zygote's own cgroup while it runs."""
        return self._leaf

    def stop(self) -> None:
        """Stop the zygote (it is reaped in the background), also one still starting (its
        callers get a ZygoteError); the next spawn starts it again."""
        starting, self._starting = self._starting, None
        if starting is not None:
            starting.cancel()  # it kills and reaps what it launched
        self._drop(SHUTDOWN)

    async def close(self) -> None:
        process, starting = self._process, self._starting
        self.stop()
        if starting is not None:
            await asyncio.wait([starting])
        if process is not None:
            await asyncio.to_thread(process.wait)

    async def _start(self) -> None:
        hidden = _identities(self.confinement.limits.hidden_paths)
        process, ours, leaf = self._launch()
        try:
            await self._admit(process, ours, leaf, describe=False)
            ready = await self._first_message(ours, process)
        except BaseException:
            # Failed, timed out or given up by its callers: nothing of it may run on.
            ours.close()
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await asyncio.to_thread(process.wait)
            self._release_leaf(leaf)
            raise
        self._process, self._control, self._leaf = process, ours, leaf
        self._hidden = hidden
        self._frames.limit = MAX_REPORT_FRAME  # a zygote keeps no description of its own
        asyncio.get_running_loop().add_reader(ours.fileno(), self._on_readable)
        # Its end of the socket may live on in what its connector started at import: its
        # exit, not the socket's end, tells that it died.
        self._pidfd = os.pidfd_open(process.pid)
        asyncio.get_running_loop().add_reader(self._pidfd, self._drop, "the zygote died")
        user = self.confinement.user_id
        as_user = "" if user is None else f" (user id {user})"
        log.info("zygote %d of connector %s ready%s", ready.pid, self.source.name, as_user)

    async def describe(self) -> Catalog:
        """Start a process that imports the connector alone, confined as its zygote would
        be, and return its description; one that fails, ends or hangs is a load failure.
        Raises SandboxUnavailableError for a configuration its user cannot use."""
        process, ours, leaf = self._launch()
        try:
            await self._admit(process, ours, leaf, describe=True)
            ready = await self._first_message(ours, process)
        except SandboxUnavailableError:
            raise
        except ZygoteError as exc:
            return Catalog(connectors={}, errors=[LoadError(self.source.name, self.source.origin, str(exc))])
        finally:
            ours.close()
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await asyncio.to_thread(process.wait)
            self._release_leaf(leaf)
        return ready.catalog

    def _launch(self) -> tuple[subprocess.Popen[bytes], socket.socket, WorkerCgroups]:
        """Start a zygote, which waits for its Hello (``_admit``), and take its cgroup."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # Popen runs in this (the event loop's) thread: PR_SET_PDEATHSIG in the zygote
        # fires when the thread that forked it ends, so it must be one that lives on. A
        # session of its own: where the kernel groups processes by session for the CPU
        # (autogroup), all its import code starts weighs as one process against the server.
        process = subprocess.Popen(
            [*ZYGOTE_COMMAND, str(theirs.fileno()), str(os.getpid()), zygote_start()],
            pass_fds=(theirs.fileno(),),
            env=WORKER_ENV,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,
        )
        theirs.close()
        limits = self.confinement.limits
        leaf = self.confinement.cgroups.acquire(limits.processes, limits.memory_bytes)
        self._frames = FrameBuffer(MAX_DESCRIPTION_FRAME)
        return process, ours, leaf

    async def _admit(
        self, process: subprocess.Popen[bytes], ours: socket.socket, leaf: WorkerCgroups, describe: bool
    ) -> None:
        """Move a launched zygote into its cgroups (in the mover thread: ``forked.mover``),
        then tell it how to confine itself: it is in them before the connector runs."""
        groups: list[str | os.PathLike[str]] = list(leaf.paths)
        cpu = self.confinement.cgroups.cpu_group(self.source.name)
        if cpu is not None:  # its workers are forked there too: all its code weighs as one
            groups.append(cpu)
        moving = asyncio.get_running_loop().run_in_executor(mover, _move_into_groups, groups, process.pid)
        try:
            await asyncio.shield(moving)
        except asyncio.CancelledError:
            # Its caller reaps it next: its number must not be written anywhere after that.
            await asyncio.wait([moving])
            raise
        ours.sendall(
            frame(
                Hello(
                    sys_path=import_path(),
                    source=self.source,
                    limits=self.confinement.limits,
                    syscall_filter=self.confinement.syscall_filter,
                    describe=describe,
                    user_id=self.confinement.user_id,
                    # its own directory alone; a PYTHONPATH is every connector's
                    connector_path=self.source.path or connector_dirs(),
                )
            )
        )

    def _release_leaf(self, leaf: WorkerCgroups | None) -> None:
        """Kill what is left in a zygote's cgroup (what its connector's import started)."""
        if leaf is not None:
            leaf.kill()
            _release_when_empty(self.confinement.cgroups, leaf)

    async def _first_message(self, sock: socket.socket, process: subprocess.Popen[bytes]) -> Ready:
        """Its description, once it has confined itself (within ``start_timeout``, which
        covers the interpreter's own start) and imported its connector (within
        ``import_timeout`` of saying it begins). What it says once its connector's import
        began comes from connector code: only its description is taken then, bounded."""
        loop = asyncio.get_running_loop()
        sock.setblocking(False)
        deadline, importing = loop.time() + self.start_timeout, False
        message: object = None
        broken = ""
        pending: list[bytes] = []
        try:
            while True:
                while not pending:
                    async with asyncio.timeout_at(deadline):
                        try:
                            data = await loop.sock_recv(sock, 1 << 20)
                        except ConnectionResetError:  # it ended before reading all we sent
                            data = b""
                    if not data:
                        raise _SocketClosed("it closed its socket")
                    pending = self._frames.feed(data)
                body = pending.pop(0)
                async with asyncio.timeout_at(deadline):
                    await _within_description_budget(body)
                message = decode(_decoder, body)
                if not isinstance(message, Importing) or importing:
                    break
                deadline, importing = loop.time() + self.import_timeout, True
        except TimeoutError:
            process.kill()
            sock.close()
            if importing:
                raise ZygoteError(f"importing it did not finish within {self.import_timeout:g} s") from None
            raise ZygoteError(f"it was not ready to import within {self.start_timeout:g} s") from None
        except FrameError as exc:  # how it ended says more of a closed socket than the close
            message, broken = None, "" if isinstance(exc, _SocketClosed) else str(exc)
        if isinstance(message, Ready):
            return message
        process.kill()
        code = await asyncio.to_thread(process.wait)
        sock.close()
        if isinstance(message, Unconfined | Misconfigured) and importing:
            # Sent by its own start-up code before the import only: this came from the
            # connector's, which would have made a load failure stop the server.
            broken = "it reported its confinement once its connector's import had begun"
        elif isinstance(message, Unconfined):
            raise ZygoteError(f"cannot confine it: {message.reason}")
        elif isinstance(message, Misconfigured):
            raise SandboxUnavailableError(f"connector '{self.source.name}': {message.reason}")
        if broken:
            raise ZygoteError(f"it broke the protocol ({broken})")
        raise ZygoteError(_ended_how(code))

    def _send_frame(self, data: bytes, fds: list[int]) -> asyncio.Future[None] | None:
        """Send one frame with ``fds`` attached to its first byte, then close them: at once
        where the control socket has room and no frame waits before it (nearly always: a
        task and two turns of the loop less per spawn), else the rest in a task, returned."""
        sent = 0
        if not self._queued_sends:
            if self._control is None:
                _close_all(fds)
                raise ZygoteDiedError("the zygote died")
            try:
                sent = socket.send_fds(self._control, [data], fds)
            except BlockingIOError:
                pass
            except BaseException:
                _close_all(fds)
                raise
            if sent:
                _close_all(fds)
                fds = []
        if sent == len(data):
            return None
        self._queued_sends += 1
        sending = asyncio.ensure_future(self._send(data[sent:], fds, continued=bool(sent)))
        sending.add_done_callback(self._sent)
        return sending

    def _sent(self, _: object) -> None:
        self._queued_sends -= 1

    async def _send(self, data: bytes, fds: list[int], continued: bool = False) -> None:
        """Send one frame (or, ``continued``, the rest of one) with ``fds`` attached to its
        first byte, then close them."""
        try:
            async with self._send_lock:
                if self._control is None:
                    raise ZygoteDiedError("the zygote died")
                control = self._control
                sent = 0
                if not continued:
                    sent = await self._writable_then(lambda: socket.send_fds(control, [data], fds))
                while sent < len(data):
                    sent += await self._writable_then(functools.partial(control.send, data[sent:]))
        finally:
            _close_all(fds)

    async def _writable_then(self, send: Callable[[], int]) -> int:
        loop = asyncio.get_running_loop()
        while True:
            try:
                return send()
            except BlockingIOError:
                assert self._control is not None
                writable = loop.create_future()
                loop.add_writer(self._control.fileno(), writable.set_result, None)
                try:
                    await writable
                finally:
                    loop.remove_writer(self._control.fileno())

    def _on_readable(self) -> None:
        """One read per call: the loop serves everything else between two (a zygote that
        writes without end took the loop for seconds when this read until it ran dry)."""
        assert self._control is not None
        try:
            data = self._control.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop("the zygote died")
            return
        try:
            for body in self._frames.feed(data):
                broken = self._dispatch(decode(_reports, body))
                if broken is not None:
                    self._drop(f"the zygote broke the protocol ({broken})")
                    return
        except FrameError as exc:
            self._drop(f"the zygote broke the protocol ({exc})")

    def _dispatch(self, message: object) -> str | None:
        """Act on one message of the zygote; what is wrong with it, if anything (the zygote
        runs connector code: what it says is checked, never simply believed)."""
        if isinstance(message, Spawned | SpawnFailed):
            spawn = self._spawns.pop(message.token, None)
            if spawn is None:
                return "it answered a spawn nobody asked for"
            future, placement = spawn
            if isinstance(message, SpawnFailed):
                if not future.done():
                    future.set_exception(ZygoteError(self._spawn_failure(message.message)))
                return None
            return self._spawned(message.pid, future, placement)
        if isinstance(message, Reaped):
            exit_future = self._exits.pop(message.pid, None)
            if exit_future is None:
                if message.pid in self._gone_before_placed:
                    self._gone_before_placed.discard(message.pid)
                    return None
                # A stream of these for made-up pids took 74 % of a core of the server's.
                return "it reported the end of a process that is none of its workers"
            if not exit_future.done():
                exit_future.set_result(Exit(message.exit_code, message.signal))
        return None

    def _spawned(self, pid: int, future: asyncio.Future[Forked], placement: _Placement) -> str | None:
        """Take the worker the zygote names if it is the zygote's own child, and have it
        moved into its cgroups (in the mover thread: see ``forked.mover``). Its caller is
        told once it is there (``_placed``), not once it runs again: the worker waits for
        word of it."""
        assert self._process is not None
        pidfd = child_pidfd(pid, self._process.pid)
        if pidfd is None:
            if not future.done():
                future.set_exception(ZygoteDiedError("its worker is no child of it"))
            return f"it named process {pid}, which is not its child, as its worker"
        # Spawned always comes before its Reaped (the zygote sends it right after the fork):
        # a Reaped that comes while the worker is moved finds this.
        loop = asyncio.get_running_loop()
        exited = self._exits[pid] = loop.create_future()
        placed = functools.partial(self._placed, pid, pidfd, exited, future, placement)
        moving = move(_procs_paths(placement.cgroups), pid, pidfd)
        moving.add_done_callback(functools.partial(_call_soon_on, loop, placed))
        return None

    def _placed(
        self,
        pid: int,
        pidfd: int,
        exited: asyncio.Future[Exit],
        future: asyncio.Future[Forked],
        placement: _Placement,
        moving: concurrent.futures.Future[bool],
    ) -> None:
        failure: ZygoteError | None = None
        try:
            placed = moving.result()
        except OSError as exc:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)  # it must not run unconfined
            placed, failure = False, ZygoteError(f"cannot move the worker into its cgroup: {exc.strerror}")
        if not placed:
            os.close(pidfd)
            if self._exits.get(pid) is exited:
                del self._exits[pid]
                self._gone_before_placed.add(pid)  # its zygote reports its end yet
            placement.cgroups.forsake_if_holding(pid)
            if not future.done():
                future.set_exception(failure or ZygoteError("the worker ended before it ran"))
            return
        if future.done():  # failed by a drop meanwhile: nobody waits for this worker
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        forked = Forked(pid, exited, pidfd, watch(pidfd, exited))
        if not future.done():
            future.set_result(forked)
            placement.then(forked)

    def _spawn_failure(self, said: str) -> str:
        """Why the zygote could not fork, if it is one of the reasons a zygote gives, else a
        reason of our own. Its words are not logged as they came: connector code in it can
        read a call's request (secrets included) before it answers its spawn."""
        if said in _SPAWN_FAILURES or said == f"connector '{self.source.name}' is not loaded":
            return said
        return "the zygote refused to fork a worker"

    def _drop(self, reason: str) -> None:
        """Forget the current zygote: pending spawns fail, its workers count as killed
        (they die with it), and the next spawn starts a new one."""
        control, self._control = self._control, None
        pidfd, self._pidfd = self._pidfd, None
        if pidfd is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(pidfd)
            os.close(pidfd)
        if control is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(control.fileno())
            control.close()
            if reason != SHUTDOWN:
                self.restarts += 1
                log.warning("%s; it will be restarted on the next call", reason)
        for future, _ in self._spawns.values():
            if not future.done():
                future.set_exception(ZygoteDiedError(reason))
        self._spawns.clear()
        for exited in self._exits.values():
            if not exited.done():
                exited.set_result(Exit(signal=signal.SIGKILL))  # they die with their zygote
        self._exits.clear()
        self._gone_before_placed.clear()
        process, self._process = self._process, None
        leaf, self._leaf = self._leaf, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()  # it may be alive but broken; dead, this does nothing
            # Reap it off the loop, so it does not linger as a zombie.
            reaped = asyncio.get_running_loop().run_in_executor(None, process.wait)
            reaped.add_done_callback(lambda _: self._release_leaf(leaf))


@dataclass(frozen=True)
class _Placement:
    """Where a worker goes once forked, and what follows at once."""

    cgroups: WorkerCgroups
    then: Callable[[Forked], None]


#: What a zygote says when it cannot fork a worker (sandbox/zygote.py).
_SPAWN_FAILURES = frozenset(
    [
        "spawn request carried too few descriptors",
        *(f"fork failed: {os.strerror(code)}" for code in errno.errorcode),
    ]
)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def _procs_paths(cgroups: WorkerCgroups) -> list[str]:
    return [os.path.join(path, "cgroup.procs") for path in cgroups.paths]


def _call_soon_on(loop: asyncio.AbstractEventLoop, callback: Callable[[T], None], done: T) -> None:
    """``callback(done)`` on ``loop``'s thread, from another; nothing once the loop closed
    (the server is gone: nobody waits)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, done)


def _move_into_groups(paths: list[str | os.PathLike[str]], pid: int) -> None:
    for path in paths:
        with open(os.path.join(path, "cgroup.procs"), "w") as procs:
            procs.write(str(pid))


def _release_when_empty(cgroups: Cgroups, leaf: WorkerCgroups, tries: int = 250) -> None:
    # Killed processes leave a cgroup asynchronously; look again shortly.
    if cgroups.release(leaf) or tries == 0:
        return
    asyncio.get_running_loop().call_later(0.02, _release_when_empty, cgroups, leaf, tries - 1)


def _ended_how(code: int) -> str:
    if code < 0:
        return f"importing it killed the process (signal {-code})"
    return f"importing it ended the process (exit code {code})"


def _identities(paths: list[str]) -> list[tuple[int, int] | None]:
    """What each path is now (device, inode), None where nothing is."""
    found: list[tuple[int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            found.append(None)
            continue
        found.append((st.st_dev, st.st_ino))
    return found


class _SocketClosed(FrameError):
    """A starting zygote's socket ended before its description came."""


async def _within_description_budget(body: bytes) -> None:
    """Raise FrameError if ``body`` holds more values than a description may (read without
    decoding it, the loop served between steps)."""
    scan = msgpack_shape_scan(body, MAX_DEPTH, MAX_DESCRIPTION_VALUES)
    while True:
        try:
            next(scan)
        except StopIteration as done:
            if done.value is not None:
                raise FrameError(
                    f"its description is larger than one may be: more than {MAX_DESCRIPTION_VALUES:,} "
                    f"values or {MAX_DEPTH} levels"
                ) from None
            return
        await asyncio.sleep(0)
