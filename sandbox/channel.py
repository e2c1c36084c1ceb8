"""Blocking framed I/O over the worker's socket (the worker side is plain, synchronous code)."""

from __future__ import annotations

import socket
import threading
from typing import Any

import msgspec

from connectord.sandbox.protocol import HEADER, FrameError, decode, frame, frame_length


class Channel:
    def __init__(self, sock: socket.socket, decoder: msgspec.msgpack.Decoder[Any]) -> None:
        self._sock = sock
        self._decoder = decoder
        # Connector threads may log concurrently; one frame must go out whole.
        self._send_lock = threading.Lock()

    def send(self, message: msgspec.Struct) -> None:
        self.send_frame(frame(message))

    def send_frame(self, data: bytes) -> None:
        with self._send_lock:
            self._sock.sendall(data)

    def receive(self) -> object | None:
        """The next message, or ``None`` when the peer closed the socket."""
        header = self._read(HEADER.size)
        if header is None:
            return None
        body = self._read(frame_length(header))
        if body is None:
            raise FrameError("peer closed the socket in the middle of a frame")
        return decode(self._decoder, body)

    def _read(self, size: int) -> bytes | None:
        chunks = bytearray()
        while len(chunks) < size:
            chunk = self._sock.recv(size - len(chunks))
            if not chunk:
                return None
            chunks += chunk
        return bytes(chunks)
