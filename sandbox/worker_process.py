"""The supervisor's side of one worker process: framed exchange over its socket, and
killing its whole process group (and cgroup) when it must go."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from connectord.plugins.server_errors import Internal
from connectord.sandbox.bounds import (
    MAX_DEPTH,
    MAX_LOG_FRAME,
    MAX_VALUES,
    REPLY_VALUES,
    TOO_MANY_VALUES,
    msgpack_shape_scan,
)
from connectord.sandbox.cgroups import WorkerCgroups
from connectord.sandbox.forked import Exit, Forked, ended_now
from connectord.sandbox.outcomes import Rejected
from connectord.sandbox.protocol import (
    HEADER,
    REPLY_START,
    ContentError,
    FrameError,
    Log,
    Placed,
    Reply,
    Request,
    WorkerOut,
    decode,
    frame,
    frame_length,
)

log = logging.getLogger(__name__)

_decoder = msgspec.msgpack.Decoder(WorkerOut)
_PLACED = frame(Placed())


@dataclass(frozen=True, slots=True)
class Framed:
    """A request to a worker, encoded once, before anything waits for a worker: a call
    msgpack cannot carry is refused there (``OverflowError``), and is not encoded again
    on its way."""

    invocation_id: str
    data: bytes

    @classmethod
    def of(cls, request: Request) -> Framed:
        return cls(request.invocation_id, frame(request))


class WorkerGone(Internal):
    """The worker closed its socket or broke the protocol before replying."""


class WorkerProcess:
    """Created before the worker exists: its first request is queued on the socket while
    the zygote forks, and it runs that once told it is in its cgroups (``placed``). ``pid``
    is known once the zygote reports the fork (``started``)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        cgroups: WorkerCgroups,
        key: tuple[str, str],
    ) -> None:
        self.pid = 0
        #: Resolved by the zygote's report once the worker is reaped (set by ``started``).
        self.exited: asyncio.Future[Exit] = asyncio.get_running_loop().create_future()
        self._forked: Forked | None = None
        self.reader = reader
        self.writer = writer
        self.cgroups = cgroups
        self.key = key
        self.calls = 0
        self.alive = True

    @classmethod
    async def open(cls, sock: socket.socket, cgroups: WorkerCgroups, key: tuple[str, str]) -> WorkerProcess:
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        return cls(reader, writer, cgroups, key)

    def send(self, request: Framed) -> None:
        self.calls += 1
        self.writer.write(request.data)

    def placed(self) -> None:
        """Tell the worker it is in its cgroups: it may run its first request."""
        self.writer.write(_PLACED)

    def started(self, forked: Forked) -> None:
        self.pid = forked.pid
        self.exited = forked.exited
        self._forked = forked
        forked.exited.add_done_callback(self._ended)
        forked.ended.add_done_callback(self._stop_reading)

    def _ended(self, _: object) -> None:
        self.alive = False

    @property
    def usable(self) -> bool:
        """Alive as the kernel says now, not only as the loop has heard: an idle worker
        whose zygote was just killed is gone before the loop knows."""
        forked = self._forked
        if not self.alive or forked is None or forked.exited.done() or forked.ended.done():
            return False  # (its pidfd is closed soon after it is reaped: not asked then)
        return not ended_now(forked.pidfd)

    def _stop_reading(self, _: object) -> None:
        """The worker ended: what it sent is all it will send. Whatever else holds the other
        end of its socket (its zygote may keep a copy, a process it started may inherit
        one) must not keep a reply waiting: the reader gets what is queued, then the end."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)

    async def reply(self, invocation_id: str, on_log: Callable[[Log], None]) -> Reply:
        """Read until the reply to ``invocation_id``; its logs go to ``on_log`` as they come
        (a pooled worker's stray lines from an earlier call are dropped). A frame that holds
        what no message may (see ContentError) rejects the call; the worker is not reused."""
        try:
            await self.writer.drain()
            while True:
                try:
                    message = await self._receive()
                except ContentError as exc:
                    log.warning("a worker of %s broke the protocol: %s", self.key[1], exc)
                    kind = "ResultTooLarge" if str(exc) == TOO_MANY_VALUES else "InvalidResult"
                    return Reply(invocation_id, Rejected(kind, str(exc)), clean=False)
                if isinstance(message, Log):
                    if message.invocation_id == invocation_id:
                        on_log(message)
                    await asyncio.sleep(0)  # frames already read come without a pause: make one
                elif isinstance(message, Reply) and message.invocation_id == invocation_id:
                    return message
                else:
                    raise WorkerGone("the worker answered another invocation")
        except (ConnectionError, asyncio.IncompleteReadError, FrameError) as exc:
            raise WorkerGone(str(exc) or type(exc).__name__) from None

    async def _receive(self) -> object:
        header = await self.reader.readexactly(HEADER.size)
        length = frame_length(header)
        if length <= MAX_LOG_FRAME:
            return decode(_decoder, await self.reader.readexactly(length))
        start = await self.reader.readexactly(len(REPLY_START))
        if start[1:] != REPLY_START[1:]:  # the first byte is the map's size
            raise ContentError(f"the worker sent a frame of {length} bytes that is no reply")
        body = start + await self.reader.readexactly(length - len(start))
        # What a reply costs once decoded is not its size: 2 MB of empty objects became
        # 2,000,000 dicts, which held the loop for seconds. Its values are counted first,
        # without building any, in steps between which the loop serves others (a scan stops
        # past MAX_VALUES: ≈ 0.2 s in all at most). A thread would hold the GIL as long.
        scan = msgpack_shape_scan(body, MAX_DEPTH + 2, MAX_VALUES + REPLY_VALUES)  # the result: 3rd level
        while True:
            try:
                next(scan)
            except StopIteration as done:
                if done.value is not None:
                    raise ContentError(done.value) from None
                return decode(_decoder, body)
            await asyncio.sleep(0)

    def signal_group(self, sig: int) -> None:
        """Signal the worker (through its pidfd) and its process group, while it lives."""
        if self._forked is not None:
            self._forked.signal(sig)

    def kill(self) -> None:
        """Kill the worker and everything in its group, and close. What left the group is
        killed through the worker's cgroups when it is recycled, once reaped."""
        self.alive = False
        self.signal_group(signal.SIGKILL)
        self.close()

    def close(self) -> None:
        self.alive = False
        self.writer.close()
        if self._forked is not None:
            self._forked.unwatch()
