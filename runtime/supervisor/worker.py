"""The supervisor's side of one worker process: framed exchange over its socket, and
killing its whole process group (and cgroup) when it must go."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Callable

import msgspec

from connectord.runtime.outcomes import Outcome
from connectord.runtime.supervisor.cgroups import WorkerCgroups
from connectord.sandbox.protocol import (
    HEADER,
    FrameError,
    Log,
    Reply,
    Request,
    WorkerOut,
    decode,
    frame,
    frame_length,
)

_decoder = msgspec.msgpack.Decoder(WorkerOut)


class WorkerGone(Exception):
    """The worker closed its socket or broke the protocol before replying."""


class WorkerProcess:
    def __init__(
        self,
        pid: int,
        sock: socket.socket,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        cgroups: WorkerCgroups,
        key: tuple[str, str],
    ) -> None:
        self.pid = pid
        self.sock = sock
        self.reader = reader
        self.writer = writer
        self.cgroups = cgroups
        self.key = key
        self.calls = 0
        self.alive = True

    @classmethod
    async def attach(
        cls, pid: int, sock: socket.socket, cgroups: WorkerCgroups, key: tuple[str, str]
    ) -> WorkerProcess:
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        return cls(pid, sock, reader, writer, cgroups, key)

    async def exchange(self, request: Request, on_log: Callable[[Log], None]) -> Outcome:
        """Send one request and read until its reply; logs go to ``on_log`` as they come."""
        self.calls += 1
        self.writer.write(frame(request))
        try:
            await self.writer.drain()
            while True:
                message = await self._receive()
                if isinstance(message, Log):
                    on_log(message)
                elif isinstance(message, Reply) and message.invocation_id == request.invocation_id:
                    return message.outcome
                else:
                    raise WorkerGone("the worker answered another invocation")
        except (ConnectionError, asyncio.IncompleteReadError, FrameError) as exc:
            raise WorkerGone(str(exc) or type(exc).__name__) from None

    async def _receive(self) -> object:
        header = await self.reader.readexactly(HEADER.size)
        body = await self.reader.readexactly(frame_length(header))
        return decode(_decoder, body)

    def signal_group(self, sig: int) -> None:
        """Signal the worker's process group (it is the leader of its own session)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def kill(self) -> None:
        """Kill the worker, everything in its group and everything in its cgroups; close."""
        self.alive = False
        self.signal_group(signal.SIGKILL)
        self.cgroups.kill()
        self.close()

    def close(self) -> None:
        self.alive = False
        self.writer.close()
