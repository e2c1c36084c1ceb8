"""Connectors that misbehave on purpose, one way each, to test the sandbox.

This file is copied into a temporary site directory with an entry point per connector;
it is never imported by the test process itself. Each connector misbehaves in
``verify_credentials``; ``credentials["path"]``, where given, is a file the connector
writes process ids to, so a test can check that nothing it started survived.
"""

import ctypes
import logging
import os
import signal
import sys
import time

import connectord

log = logging.getLogger("hostile")


def _record(credentials, pid):
    with open(credentials["path"], "a") as f:
        f.write(f"{pid}\n")


def _forever(*keep):
    while True:
        time.sleep(60)


def _make(connector_id, verify, secret_field=False):
    class Connector:
        @connectord.hookimpl
        def describe_connector(self):
            props = {"path": {"type": "string"}, "size": {"type": "integer"}, "probe": {"type": "string"}}
            if secret_field:
                props["token"] = {"type": "string", "secret": True}
            return connectord.ConnectorInfo(
                id=connector_id,
                title=connector_id,
                version="1",
                credentials_schema={"type": "object", "properties": props},
            )

        @connectord.hookimpl
        def verify_credentials(self, credentials):
            return verify(credentials)

    return Connector()


def sleeper_verify(credentials):
    time.sleep(600)


def spinner_verify(credentials):
    while True:
        pass


def cblocker_verify(credentials):
    ctypes.CDLL(None).sleep(600)  # inside C: no Python signal handler runs


def forker_verify(credentials):
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            _forever()
        _record(credentials, pid)
    _forever()


def escaper_verify(credentials):
    pid = os.fork()
    if pid == 0:
        os.setsid()  # leaves the worker's process group and session
        _forever()
    _record(credentials, pid)
    _forever()


def hog_verify(credentials):
    chunks = []
    while True:
        chunks.append(bytearray(64 * 1024 * 1024))


def exiter_verify(credentials):
    os._exit(3)


def segfault_verify(credentials):
    ctypes.string_at(0)


def stubborn_verify(credentials):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _forever()


def spammer_verify(credentials):
    for i in range(credentials.get("size", 20000)):
        log.warning("spam line %d", i)
    return connectord.verified("spammed")


def leaker_verify(credentials):
    log.warning("credentials: %s", credentials)
    print("token is", credentials["token"])
    print("environment:", dict(os.environ), file=sys.stderr)
    raise RuntimeError(f"refused token {credentials['token']}")


def huge_verify(credentials):
    return connectord.verified("x" * credentials.get("size", 40 * 1024 * 1024))


def garbage_verify(credentials):
    os.write(3, b"\x00\x00\x00\x10this is not msgpack")
    _forever()


def closer_verify(credentials):
    os.close(3)
    time.sleep(0.2)
    return connectord.verified()


def forkbomb_verify(credentials):
    forks = 0
    for _ in range(200):  # bounded, in case the pids limit is missing
        try:
            if os.fork() == 0:
                _forever()
        except OSError:
            break
        forks += 1
    with open(credentials["path"], "w") as f:
        f.write(str(forks))
    _forever()


def teller_verify(credentials):
    return connectord.verified(f"your token is {credentials['token']}")


def threader_verify(credentials):
    import threading

    threading.Thread(target=lambda: time.sleep(30), daemon=True).start()
    return connectord.verified(f"pid {os.getpid()}")


def parent_verify(credentials):
    if os.fork() == 0:
        time.sleep(30)
        os._exit(0)
    return connectord.verified(f"pid {os.getpid()}")


def hoarder_verify(credentials):
    files = []
    while True:
        files.append(open(os.devnull))  # noqa: SIM115 - hoarding is the point


def slow_verify(credentials):
    time.sleep(credentials.get("size", 1) / 1000)
    return connectord.verified("slept")


_kept = []


def grower_verify(credentials):
    _kept.append(b"x" * credentials.get("size", 0) * 1024 * 1024)  # written, so resident
    return connectord.verified(f"pid {os.getpid()}")


def nice_verify(credentials):
    log.info("checking %s", credentials.get("path", "nothing"))
    return connectord.verified(f"pid {os.getpid()}")


sleeper = _make("sleeper", sleeper_verify)
spinner = _make("spinner", spinner_verify)
cblocker = _make("cblocker", cblocker_verify)
forker = _make("forker", forker_verify)
escaper = _make("escaper", escaper_verify)
hog = _make("hog", hog_verify)
exiter = _make("exiter", exiter_verify)
segfault = _make("segfault", segfault_verify)
stubborn = _make("stubborn", stubborn_verify)
spammer = _make("spammer", spammer_verify)
leaker = _make("leaker", leaker_verify, secret_field=True)
huge = _make("huge", huge_verify)
garbage = _make("garbage", garbage_verify)
closer = _make("closer", closer_verify)
forkbomb = _make("forkbomb", forkbomb_verify)
hoarder = _make("hoarder", hoarder_verify)
slow = _make("slow", slow_verify)
nice = _make("nice", nice_verify)
grower = _make("grower", grower_verify)

CONNECTORS = [
    "sleeper",
    "spinner",
    "cblocker",
    "forker",
    "escaper",
    "hog",
    "exiter",
    "segfault",
    "stubborn",
    "spammer",
    "leaker",
    "huge",
    "garbage",
    "closer",
    "forkbomb",
    "hoarder",
    "slow",
    "nice",
    "grower",
    "dialer",
    "teller",
    "threader",
    "parent",
    "prober",
    "neighbour",
    "shaper",
    "swarm",
    "shmfiller",
    "daemonizer",
    "litterer",
]


def dialer_verify(credentials):
    import socket

    try:
        socket.create_connection(("127.0.0.1", credentials["size"]), timeout=2).close()
    except OSError as exc:
        return connectord.not_verified("network", f"{type(exc).__name__}: {exc}")
    return connectord.verified("connected")


dialer = _make("dialer", dialer_verify)
teller = _make("teller", teller_verify, secret_field=True)
threader = _make("threader", threader_verify)
parent = _make("parent", parent_verify)


#: System V IPC objects, made (IPC_CREAT, mode 0600) and never removed.
SYSV_IPC = {
    "shmget": lambda libc, key: libc.shmget(key, 1 << 20, 0o1600),
    "msgget": lambda libc, key: libc.msgget(key, 0o1600),
    "semget": lambda libc, key: libc.semget(key, 1, 0o1600),
}


def _probe(name, path):
    """Try one thing a confined worker must not do (or must still do); None when it worked."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if name == "dumpable":
        return str(libc.prctl(3, 0, 0, 0, 0))  # PR_GET_DUMPABLE
    if name == "read":
        with open(path) as f:
            f.read()
        return None
    if name == "processes":  # the pids /proc lists
        return " ".join(sorted(entry for entry in os.listdir("/proc") if entry.isdigit()))
    if name == "open_for_writing":  # opens, writes nothing
        with open(path, "a"):
            return None
    if name == "content":
        with open(path) as f:
            return repr(f.read())
    if name == "write":
        with open(path, "w") as f:
            f.write("written")
        return None
    if name == "thread":
        import threading

        thread = threading.Thread(target=lambda: None)
        thread.start()
        thread.join()
        return None
    if name == "capabilities":  # what it holds, and what a program it runs (as root) gets
        import subprocess

        sets = "('CapEff', 'CapPrm', 'CapAmb')"
        script = f"print(*(l.split()[1] for l in open('/proc/self/status') if l.startswith({sets})))"
        with open("/proc/self/status") as f:
            held = [line.split()[1] for line in f if line.startswith(("CapEff", "CapPrm", "CapAmb"))]
        run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        return ",".join(held) + "|" + ",".join(run.stdout.split())
    if name == "raise_limit":  # may it raise its own open-files limit?
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard + 1))
        return None
    if name == "signal":  # may it signal its zygote?
        os.kill(os.getppid(), 0)
        return None
    if name == "signal_pid":  # may it signal process ``path``?
        os.kill(int(path), 0)
        return None
    if name == "write_private":  # a file only its own user may read (as a careful connector makes)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))
        return None
    if name == "abstract":  # may it reach an abstract unix socket made outside it?
        import socket

        with socket.socket(socket.AF_UNIX) as client:
            client.connect("\0" + path)
        return None
    if name == "prlimit":  # may it read (so lower) the limits of process ``path``?
        import resource

        resource.prlimit(int(path), resource.RLIMIT_NOFILE)
        return None
    if name == "named":  # may it reach a named unix socket of the host (a service's)?
        import socket

        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)
        return None
    if name == "family":  # may it open a socket of family ``path`` (the whole register)?
        import errno

        fd = libc.syscall(ctypes.c_long(41), ctypes.c_long(int(path)), ctypes.c_long(1), ctypes.c_long(0))
        if fd < 0:
            return errno.errorcode.get(ctypes.get_errno(), "?")  # socket(family, SOCK_STREAM, 0)
        os.close(fd)
        return None
    if name in ("datagram_pair", "raw_pair"):  # may such a pair send to named socket ``path``?
        import socket

        kind = socket.SOCK_DGRAM if name == "datagram_pair" else socket.SOCK_RAW  # a datagram too
        first, second = socket.socketpair(socket.AF_UNIX, kind)
        with first, second:
            first.sendto(b"hello", path)
        return None
    if name == "stream_pair":  # as asyncio makes one
        import socket

        first, second = socket.socketpair()
        with first, second:
            first.sendall(b"x")
            return None if second.recv(1) == b"x" else "no echo"
    if name in SYSV_IPC:  # made with key ``path`` and left behind, or the error
        key = int(path or "0")
        made = SYSV_IPC[name](libc, key)
        return "left" if made >= 0 else os.strerror(ctypes.get_errno())
    if name == "subprocess":
        import subprocess

        return None if subprocess.run([sys.executable, "-c", "pass"]).returncode == 0 else "failed"
    calls = {
        "traceme": lambda: libc.ptrace(0, 0, 0, 0),  # PTRACE_TRACEME
        "unshare": lambda: libc.unshare(0x10000000),  # CLONE_NEWUSER
        "umount": lambda: libc.umount2(path.encode(), 2),  # MNT_DETACH
        "bpf": lambda: libc.syscall(ctypes.c_long(321), ctypes.c_long(0), None, ctypes.c_long(0)),
    }
    if name in ("clone_newuser", "clone_parent"):  # the child leaves at once
        # into a new user namespace, or as a child of our parent: out of the reach of the
        # zygote as the subreaper that ends what its processes leave behind
        flag = 0x10000000 if name == "clone_newuser" else 0x00008000
        pid = libc.syscall(ctypes.c_long(56), ctypes.c_long(flag | signal.SIGCHLD), None, None, None, None)
        if pid == 0:
            os._exit(0)
        if pid > 0:
            if name == "clone_newuser":  # the other is not our child
                os.waitpid(pid, 0)
            return None
    elif calls[name]() == 0 or (name == "bpf" and ctypes.get_errno() == 22):
        return None  # bpf(0, NULL, 0) that got past any filter is merely EINVAL
    return os.strerror(ctypes.get_errno())


def prober_verify(credentials):
    """``credentials["probe"]``: one thing to try; answers what happened, as its message."""
    try:
        problem = _probe(credentials["probe"], credentials.get("path", ""))
    except (OSError, ValueError) as exc:
        problem = type(exc).__name__
    return connectord.verified(f"pid {os.getpid()}: {problem or 'done'}")


prober = _make("prober", prober_verify)
neighbour = _make("neighbour", prober_verify)  # another connector that does the same


def _raw_reply(data_msgpack):
    """Write a reply frame by hand, as the worker's socket allows, carrying ``data_msgpack``
    (msgpack bytes) as the result; the connector then waits to be killed."""
    import msgspec

    invocation_id = logging.getLogger().handlers[0].invocation_id
    head = msgspec.msgpack.encode({"type": "reply", "invocation_id": invocation_id})
    outcome = b"\x82" + msgspec.msgpack.encode("type") + msgspec.msgpack.encode("succeeded")
    outcome += msgspec.msgpack.encode("data") + data_msgpack
    body = bytes([head[0] + 1]) + head[1:] + msgspec.msgpack.encode("outcome") + outcome
    os.write(3, len(body).to_bytes(4, "big") + body)
    _forever()


def _nested(depth):
    value = {"leaf": "x"}
    for _ in range(depth - 1):
        value = {"in": value}
    return value


def _shaper_verify(credentials):
    """``credentials["probe"]`` picks what to send back; ``token`` is the secret."""
    probe, token = credentials["probe"], credentials.get("token", "")
    size = credentials.get("size", 0)
    if probe == "config_field":
        raise connectord.ConfigError("the token is wrong", field=token + "f" * size)
    if probe == "failure_field":
        return connectord.not_verified("config", "the token is wrong", field=token + "f" * size)
    if probe == "odd_field":
        raise connectord.ConfigError("odd", field=size)
    if probe == "unshowable":
        raise type("Unshowable", (Exception,), {"__str__": lambda self: 1 / 0})()
    if probe == "error_type":
        raise type(f"Refused{token}" + "E" * size, (Exception,), {})("refused")
    if probe == "surrogate_result":
        return connectord.verified("bad \ud800 text")
    if probe == "surrogate_error":
        raise RuntimeError("bad \udcff text")
    if probe == "surrogate_log":
        log.warning("bad \ud800 line")
        print("bad \udc80 print", end="")  # no newline: flushed after the call returned
        return connectord.verified("logged")
    if probe == "huge_log":
        logging.getLogger("n" * 1000).warning("x" * size)
        return connectord.verified("logged")
    if probe == "split":  # the secret straddles ``size``, the cut of a message
        text = "x" * (size - len(token) // 2) + token + "y" * 100
        log.warning(text)
        raise RuntimeError(text)
    if probe == "raw_deep":
        _raw_reply(b"\x81\xa2in" * size + b"\xc0")
    if probe == "raw_utf8":
        _raw_reply(b"\xa3\xed\xa0\x80")
    if probe == "raw_long_log":  # a log frame of ``size`` characters, past the worker's cut
        import msgspec

        invocation_id = logging.getLogger().handlers[0].invocation_id
        record = {"type": "log", "invocation_id": invocation_id, "created": 0.0, "level": 30}
        body = msgspec.msgpack.encode({**record, "logger": "hostile", "message": "x" * size})
        for _ in range(3):
            os.write(3, len(body).to_bytes(4, "big") + body)
        _forever()
    if probe == "raw_tiny_objects":  # an array of ``size`` empty maps: one byte each
        _raw_reply(b"\xdd" + size.to_bytes(4, "big") + b"\x80" * size)
    raise ValueError(f"unknown probe {probe}")


class Shaper:
    """Returns or raises strange shapes: secrets in names, invalid Unicode, deep nesting."""

    @connectord.hookimpl
    def describe_connector(self):
        props = {
            "probe": {"type": "string"},
            "size": {"type": "integer"},
            "token": {"type": "string", "secret": True},
        }
        return connectord.ConnectorInfo(
            id="shaper",
            title="shaper",
            version="1",
            credentials_schema={"type": "object", "properties": props},
            actions=[connectord.Operation(name="deep", title="Deep", dynamic_metadata=True)],
        )

    @connectord.hookimpl
    def verify_credentials(self, credentials):
        return _shaper_verify(credentials)

    @connectord.hookimpl
    def get_meta_model(self, action, credentials, cfg):
        if "integer" in cfg:
            return {"in": {"const": cfg["integer"] ** 2}, "out": {}}
        if "values" in cfg:  # 7 values and these
            return {"in": {"enum": [0] * cfg["values"]}, "out": {}}
        return {"in": _nested(cfg.get("depth", 700)), "out": {}}


shaper = Shaper()


def _memory_cgroup():
    with open("/proc/self/cgroup") as f:
        return next((line.split(":", 2)[2].strip() for line in f if line.split(":")[1] == "memory"), "")


def swarm_verify(credentials):
    """Four children touch 100 MiB each and hold it: none passes a 256 MiB limit alone,
    together they do. Writes how many got there, and its memory cgroup, to ``path``."""
    import select

    ready_r, ready_w = os.pipe()
    children = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            held = b"\x01" * (100 * 1024 * 1024)  # written, so resident
            os.write(ready_w, b"!")
            _forever(held)
        children.append(pid)
    os.close(ready_w)
    ready = dead = 0
    deadline = time.monotonic() + 5
    while ready + dead < 4 and time.monotonic() < deadline:
        if select.select([ready_r], [], [], 0.02)[0]:
            ready += len(os.read(ready_r, 4))
        while (ended := os.waitpid(-1, os.WNOHANG)[0]) > 0:
            children.remove(ended)
            dead += 1
    for pid in children:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    with open(credentials["path"], "w") as f:
        f.write(f"{ready} {_memory_cgroup()}")
    return connectord.verified(f"{ready} of 4 children got their memory")


def shmfiller_verify(credentials):
    """Writes ``size`` MiB to a file named ``path`` in its own directory of /dev/shm: tmpfs,
    no process's memory."""
    chunk = b"\x01" * (1024 * 1024)
    own = os.path.join("/dev/shm", os.path.basename(os.environ["TMPDIR"]))
    with open(os.path.join(own, os.path.basename(credentials["path"])), "wb") as f:
        for _ in range(credentials["size"]):
            f.write(chunk)
    return connectord.verified(f"pid {os.getpid()}")


def litterer_verify(credentials):
    """Writes ``size`` MiB to ``path`` (without Landlock: anywhere in /tmp), and leaves it."""
    chunk = b"\x01" * (1024 * 1024)
    try:
        with open(credentials["path"], "wb") as f:
            for _ in range(credentials["size"]):
                f.write(chunk)
    except OSError as exc:
        return connectord.not_verified("config", type(exc).__name__ + ": " + os.strerror(exc.errno or 0))
    return connectord.verified("written")


def daemonizer_verify(credentials):
    """Starts a daemon as one would: fork, setsid, fork again, the middle one exits (the
    daemon is no child of the worker), renamed to pass for a kernel thread. Records its pid."""
    ready_r, ready_w = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.setsid()
        if os.fork() == 0:
            ctypes.CDLL(None).prctl(15, b"kworker/u4:2", 0, 0, 0)  # PR_SET_NAME
            os.write(ready_w, str(os.getpid()).encode())
            os.close(ready_w)
            os.close(3)  # the worker's socket: a daemon keeps nothing of its parent
            _forever()
        os._exit(0)
    os.close(ready_w)
    os.waitpid(middle, 0)
    _record(credentials, int(os.read(ready_r, 32)))
    os.close(ready_r)
    return connectord.verified(f"pid {os.getpid()}")


swarm = _make("swarm", swarm_verify)
shmfiller = _make("shmfiller", shmfiller_verify)
daemonizer = _make("daemonizer", daemonizer_verify)
litterer = _make("litterer", litterer_verify)
