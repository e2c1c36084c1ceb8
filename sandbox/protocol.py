"""Messages between the supervisor, the zygote and the workers.

Each message is one frame: a 4-byte big-endian length, then a msgpack-encoded tagged
Struct. A peer that sends a frame larger than ``MAX_FRAME`` or bytes that do not decode
is treated as broken, never trusted further.
"""

from __future__ import annotations

import re
import struct
from typing import Annotated, Any

import msgspec

from connectord.plugins.manager import Catalog
from connectord.plugins.server_errors import Internal
from connectord.sandbox.bounds import NESTS_TOO_DEEP, NOT_UTF8
from connectord.sandbox.calls import Call
from connectord.sandbox.outcomes import Outcome, Rejected

MAX_FRAME = 16 * 1024 * 1024
HEADER = struct.Struct(">I")
#: A connector's description (the first frame of a process that imported it) may hold at
#: most this many bytes and values (objects, arrays, keys, strings, numbers): what it costs
#: the server to decode and check is bounded, whatever the connector's own check did (its
#: import code can send any frame). The bundled connectors together hold 1,032 values in
#: 10 KB; a forged description of 16 million empty objects held the server's loop 97 s.
MAX_DESCRIPTION_FRAME = 1024 * 1024
MAX_DESCRIPTION_VALUES = 50_000
#: Every later frame of a zygote is a report of a few fields (Spawned, SpawnFailed, Reaped).
MAX_REPORT_FRAME = 64 * 1024


Positive = Annotated[int, msgspec.Meta(ge=1)]


class Limits(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """Resource limits of one worker; ``None`` leaves a limit as inherited."""

    memory_bytes: Positive | None = 1024 * 1024 * 1024
    cpu_seconds: Positive | None = 60
    open_files: Annotated[int, msgspec.Meta(ge=16)] | None = 256
    #: Enforced with a cgroup ``pids.max`` where one is writable (RLIMIT_NPROC is void as root).
    processes: Positive | None = 32
    #: False puts the worker in a new, empty network namespace: no connection leaves it.
    network: bool = True
    #: Directories and files the worker cannot see: an empty read-only tmpfs (or
    #: /dev/null) is mounted over each in a mount namespace of its own. The server adds its
    #: data directory and store, so no connector (nor a tenant's SQL query) reaches them.
    hidden_paths: list[str] = msgspec.field(default_factory=list)
    #: Refuse (EPERM) the system calls listed in sandbox/syscall_filter.py:
    #: tracing, mounts and namespaces, kernel modules, bpf, io_uring, keyrings, ...
    #: None (the default): wherever libseccomp is installed; True: required (the server
    #: does not start without it); False: off.
    seccomp: bool | None = None
    #: Confine files with Landlock: the connector's processes may read only the Python
    #: installation and its packages, shared libraries, certificate, DNS and time zone
    #: files, and ``readable_paths``, and write only beneath ``writable_paths`` and their
    #: own temporary directory. None (the default): wherever the kernel has Landlock;
    #: True: required; False: off.
    landlock: bool | None = None
    #: What the connector's processes may read, and write. Landlock enforces them where it
    #: is on; beneath /tmp and /dev/shm (emptied for every connector) they are, in any
    #: case, all that stays visible.
    readable_paths: list[str] = msgspec.field(default_factory=list)
    writable_paths: list[str] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("hidden_paths", "readable_paths", "writable_paths"):
            relative = [path for path in getattr(self, name) if not path.startswith("/") or "\0" in path]
            if relative:
                raise ValueError(f"{name} must be absolute paths, not {', '.join(map(repr, relative))}")


# supervisor -> zygote


class Preload(msgspec.Struct, frozen=True):
    """One connector to load, and how (see PluginSource)."""

    name: str
    origin: str
    target: str
    #: Where its code lives, beyond the import path (an editable install, a linked
    #: package): readable by its processes.
    code_paths: list[str] = msgspec.field(default_factory=list)
    #: Directories its distribution was found in (``Selection.paths``): imported from only
    #: once the zygote is confined.
    path: list[str] = msgspec.field(default_factory=list)


class Hello(msgspec.Struct, tag="hello"):
    """The first control message: which connector to import and how to confine ourselves
    before its first line runs."""

    sys_path: list[str]
    #: The connector, as the supervisor read it from the entry points (never from anything
    #: connector code could have touched): imported directly.
    source: Preload
    #: The connector's limits, with ``landlock`` and ``seccomp`` resolved to True or False.
    limits: Limits
    #: The compiled seccomp filter when ``limits.seccomp`` (BPF, 8 bytes an instruction).
    syscall_filter: bytes = b""
    #: Describe the connector (``Ready``) and exit, instead of forking workers.
    describe: bool = False
    #: The connector's own user and group id (sandbox/user_ids.py); None: stay as started.
    user_id: int | None = None
    #: Where connector code is installed (the source's ``path``, the server's PYTHONPATH):
    #: on the import path only once the zygote is confined, after ``sys_path``, so that none
    #: of it stands in for a module of Python's or of connectord's before.
    connector_path: list[str] = msgspec.field(default_factory=list)


class Spawn(msgspec.Struct, tag="spawn"):
    """Fork a worker for ``connector``. Its socket travels with the message (SCM_RIGHTS),
    followed by ``cgroups`` descriptors: each cgroup's ``cgroup.procs``, open for writing,
    which the worker joins (the zygote's view of /sys is read-only and Landlock-confined)."""

    token: int
    connector: str
    limits: Limits
    cgroups: int = 0
    #: ``[egress] allow`` of the server: the worker installs it as its connectors' egress
    #: policy (plugins/egress_policy.py) before its first call.
    egress_allow: list[str] = msgspec.field(default_factory=list)


# zygote -> supervisor


class Ready(msgspec.Struct, tag="ready"):
    pid: int
    catalog: Catalog


class Importing(msgspec.Struct, tag="importing"):
    """The zygote is confined and imports its connector now: ``import_timeout`` runs from here."""


class Unconfined(msgspec.Struct, tag="unconfined"):
    """The zygote could not confine itself as told (it exits without importing anything)."""

    reason: str


class Misconfigured(msgspec.Struct, tag="misconfigured"):
    """The configuration gives the connector what its user cannot use (a writable path
    it may not write): an operator must act, so the server does not start."""

    reason: str


class Spawned(msgspec.Struct, tag="spawned"):
    token: int
    pid: int


class SpawnFailed(msgspec.Struct, tag="spawn_failed"):
    token: int
    message: str


class Reaped(msgspec.Struct, tag="reaped"):
    pid: int
    exit_code: int | None = None
    signal: int | None = None


# supervisor -> worker


class Request(msgspec.Struct, tag="request"):
    invocation_id: str
    call: Call
    #: The worker may serve further calls: it reports whether this one left anything running.
    pooled: bool = False
    #: The rejection of a call that raised carries the connector's traceback.
    debug: bool = False


class Placed(msgspec.Struct, tag="placed"):
    """The supervisor has moved the worker into its cgroups (sandbox/forked.py), right after
    sending its first request: it may run that now. Only the supervisor writes to the
    worker's socket (the zygote may have kept a copy of the other end: it can read what
    is sent there, not add to it)."""


WorkerIn = Request | Placed


# worker -> supervisor


class Log(msgspec.Struct, tag="log"):
    invocation_id: str
    created: float
    level: int
    logger: str
    message: str
    #: Characters the worker cut off the end of ``message`` (see bounds.sent_part).
    cut: Annotated[int, msgspec.Meta(ge=0)] = 0


class Reply(msgspec.Struct, tag="reply"):
    invocation_id: str
    outcome: Outcome
    #: False when the call left threads or processes behind: the worker is not reused.
    clean: bool = True
    #: The worker's peak resident size so far, which decides when a pooled one is recycled.
    peak_rss_bytes: int = 0


#: How the body of every reply a worker encodes begins: a map, its tag first.
REPLY_START = msgspec.msgpack.encode(Reply("", Rejected("", "")))[: len(b"\x85\xa4type\xa5reply")]

ControlIn = Hello | Spawn
ControlOut = Ready | Importing | Unconfined | Misconfigured | Spawned | SpawnFailed | Reaped
#: What a zygote may send once it is ready: anything else breaks the protocol, undecoded.
ZygoteReport = Spawned | SpawnFailed | Reaped
WorkerOut = Log | Reply

_encoder = msgspec.msgpack.Encoder()


def frame(message: msgspec.Struct) -> bytes:
    body = _encoder.encode(message)
    return HEADER.pack(len(body)) + body


class FrameError(Internal):
    """The peer broke the protocol (oversized frame, undecodable bytes, early close)."""


class ContentError(FrameError):
    """A whole, well-framed message that holds what none may: nesting too deep to decode,
    a string that is not UTF-8. The stream is still in step: the call it answers can be
    told so, rather than end as a crash."""


def frame_length(header: bytes, limit: int = MAX_FRAME) -> int:
    length: int = HEADER.unpack(header)[0]
    if length > limit:
        raise FrameError(f"frame of {length} bytes exceeds the {limit} byte limit")
    return length


def decode(dec: msgspec.msgpack.Decoder[Any], body: bytes) -> object:
    try:
        return dec.decode(body)
    except RecursionError:
        raise ContentError(NESTS_TOO_DEEP) from None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        if "UTF-8" in str(exc):
            raise ContentError(NOT_UTF8) from None
        raise FrameError(f"undecodable frame: {_without_values(exc)}") from None


#: Where msgspec says what went wrong: at the end of its message, the path in the message.
_AT_PATH = re.compile(r" - at `(\$[\w.\[\]]*)`$")
#: A complaint about a type: names types only.
_EXPECTED = re.compile(r"Expected `[\w |]+`, got `\w+`")


def _without_values(error: msgspec.MsgspecError) -> str:
    """What msgspec says went wrong, without anything of what the peer sent (an invalid
    value, an unknown field's name, a byte): it ends in the server's log, and a peer that
    runs connector code may send a secret it read. The kind of type expected, and where,
    are kept."""
    if isinstance(error, msgspec.DecodeError) and not isinstance(error, msgspec.ValidationError):
        return "malformed MessagePack"
    text = str(error)
    at = _AT_PATH.search(text)
    kind = _EXPECTED.match(text)
    return (kind.group(0) if kind else "invalid value") + (f" at `{at.group(1)}`" if at else "")


class FrameBuffer:
    """Reassembles frames from a byte stream read in arbitrary pieces; a frame longer than
    ``limit`` (which may change between two feeds) is refused from its header on."""

    def __init__(self, limit: int = MAX_FRAME) -> None:
        self._data = bytearray()
        self.limit = limit

    def feed(self, data: bytes) -> list[bytes]:
        self._data += data
        bodies = []
        while len(self._data) >= HEADER.size:
            length = frame_length(bytes(self._data[: HEADER.size]), self.limit)
            end = HEADER.size + length
            if len(self._data) < end:
                break
            bodies.append(bytes(self._data[HEADER.size : end]))
            del self._data[:end]
        return bodies
