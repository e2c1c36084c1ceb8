"""The hostile connector packages of bench/health_under_attack.py, one module each, and
the benign one another tenant calls meanwhile.

Each attacks from where its class of issue #13 starts: module-level code, a hook, the
frames it writes on its socket, the zygote it was imported into. What a hook does is
chosen by the call's credentials (``mode``), so one package covers the variants of a class.
"""

from __future__ import annotations

from pathlib import Path

#: Shared by the modules below (each is a file of its own: no imports between them).
_COMMON = '''
import gc
import os
import signal
import socket
import struct
import sys
import threading
import time

import msgspec

import connectord


def spin():
    while True:
        pass


def rename(name):
    """Look like a kernel thread in ps (the issue's pooled daemon called itself kworker)."""
    try:
        with open("/proc/self/comm", "w") as comm:
            comm.write(name)
    except OSError:
        pass


def daemon(work):
    """Fork twice and leave the session: the classic way to outlive whoever started you."""
    try:
        first = os.fork()
    except OSError:
        return
    if first == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                rename("kworker/u4:2")
                work()
        finally:
            os._exit(0)
    os.waitpid(first, 0)


def info(cid, **extra):
    return connectord.ConnectorInfo(id=cid, title=cid, version="1", **extra)


def our_request():
    """The request this worker serves, found in its own heap (to write hand-made frames)."""
    for thing in gc.get_objects():
        if type(thing).__name__ == "Request" and hasattr(thing, "invocation_id"):
            return thing
    raise LookupError("no request in this worker")


def send_raw_reply(data_bytes):
    """A reply frame written by hand on the worker's socket (descriptor 3): what connector
    code can send past the worker's own checks."""
    body = msgspec.msgpack.encode({
        "type": "reply",
        "invocation_id": our_request().invocation_id,
        "outcome": {"type": "succeeded", "data": msgspec.Raw(data_bytes)},
    })
    os.write(3, struct.pack(">I", len(body)) + body)
    time.sleep(60)
'''

IMPORT_TIME = """
# Module-level code, in whatever imports us: spinning threads, spinning children (as many
# as the zygote's cgroup lets it start) and a spinning daemon.
for _ in range(2):
    threading.Thread(target=spin, daemon=True).start()
daemon(spin)
for _ in range(26):
    try:
        if os.fork() == 0:
            spin()
    except OSError:
        break


@connectord.hookimpl
def describe_connector():
    return info("imports")


@connectord.hookimpl
def verify_credentials(credentials):
    time.sleep(2.5)  # the calls last while the zygote spins
    return connectord.verified("imported")
"""

FORK_SWARM = """
@connectord.hookimpl
def describe_connector():
    return info("swarm")


@connectord.hookimpl
def verify_credentials(credentials):
    started = 0
    for _ in range(500):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            daemon(spin)
            spin()
        started += 1
    time.sleep(60)
    return connectord.verified(f"{started} forked")
"""

MEMORY = """
MiB = 1 << 20


@connectord.hookimpl
def describe_connector():
    return info("balloon")


@connectord.hookimpl
def verify_credentials(credentials):
    for _ in range(4):
        if os.fork() == 0:
            held = b"\\1" * (300 * MiB)  # touched: every page charged
            time.sleep(60)
            os._exit(len(held) & 0)
    shm = os.path.join("/dev/shm", os.path.basename(os.environ.get("TMPDIR", "x")))
    chunk = b"\\2" * (16 * MiB)
    with open(os.path.join(shm, "balloon"), "wb") as out:
        for _ in range(20):
            out.write(chunk)
    time.sleep(60)
    return connectord.verified("ballooned")
"""

HOOK_SPIN = """
@connectord.hookimpl
def describe_connector():
    return info("spinner")


@connectord.hookimpl
def verify_credentials(credentials):
    for _ in range(3):
        threading.Thread(target=spin, daemon=True).start()
    spin()
"""

LOG_FLOOD = """
import logging

LINE = "x" * (15 << 20)
log = logging.getLogger("flood")


@connectord.hookimpl
def describe_connector():
    return info("flooder")


@connectord.hookimpl
def verify_credentials(credentials):
    while True:
        log.warning(LINE)
        print(LINE)
"""

RESULTS = """
ACTION = connectord.Operation(name="schema", title="Schema", dynamic_metadata=True)


@connectord.hookimpl
def describe_connector():
    return info("results", actions=[ACTION])


@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified()


def nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


@connectord.hookimpl
def get_meta_model(action, credentials, cfg):
    mode = cfg.get("mode")
    if mode == "deep":
        return {"in": {"x": nested(100_000)}, "out": {}}
    if mode == "surrogate":
        return {"in": {"x": "\\ud800" * 1000}, "out": {}}
    if mode == "too_large":
        return {"in": {"x": "y" * (40 << 20)}, "out": {}}
    if mode == "tiny_objects":  # {"in": {"x": [{}, {}, ...]}, "out": {}}, one byte per object
        count = cfg["count"]
        send_raw_reply(
            b"\\x82\\xa2in\\x81\\xa1x\\xdd" + count.to_bytes(4, "big") + b"\\x80" * count + b"\\xa3out\\x80"
        )
    if mode == "raw_deep":
        send_raw_reply(b"\\x91" * 200_000 + b"\\xc0")
    if mode == "raw_not_utf8":
        send_raw_reply(b"\\x81\\xa2in\\xa2\\xff\\xfe")
    raise ValueError(f"unknown mode {mode}")
"""

SIGNALS = '''
def attempt(action):
    try:
        action()
        return "done"
    except BaseException as exc:
        return type(exc).__name__


import resource


def sigio_to(pid):
    """Have the kernel send SIGIO to ``pid`` on our behalf (fcntl F_SETOWN)."""
    import fcntl
    a, b = socket.socketpair()
    fcntl.fcntl(a, fcntl.F_SETOWN, pid)
    fcntl.fcntl(a, fcntl.F_SETFL, os.O_ASYNC | os.O_NONBLOCK)
    b.send(b"x")


@connectord.hookimpl
def describe_connector():
    return info("signals")


@connectord.hookimpl
def verify_credentials(credentials):
    server, zygote = credentials["server"], os.getppid()
    tried = {
        "stop_server": attempt(lambda: os.kill(server, signal.SIGSTOP)),
        "kill_zygote": attempt(lambda: os.kill(zygote, signal.SIGKILL)),
        "pidfd_server": attempt(lambda: signal.pidfd_send_signal(os.pidfd_open(server), signal.SIGSTOP)),
        "sigio_server": attempt(lambda: sigio_to(server)),
        "group_server": attempt(lambda: os.killpg(os.getpgid(server), signal.SIGSTOP)),
        # reading the server's limits (allowed, lowering them is too: open files to 3 ...)
        "limits_server": attempt(lambda: resource.prlimit(server, resource.RLIMIT_NOFILE)),
    }
    # Every process of the server's tree (its zygotes, the other tenant's workers): the
    # bench names them, so that a sandbox that let this through harms nothing else here.
    signalled = 0
    for pid in credentials["targets"]:
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            if pid != os.getpid() and attempt(lambda: os.kill(pid, sig)) == "done":
                signalled += 1
    tried["signalled_others"] = signalled
    return connectord.verified(repr(tried))
'''

POOLED_DAEMON = """
@connectord.hookimpl
def describe_connector():
    return info("pooler")


@connectord.hookimpl
def verify_credentials(credentials):
    daemon(lambda: time.sleep(600))
    return connectord.verified(str(os.getpid()))
"""

# The zygote is connector code too: its import can rewrite how it answers the server.
FORGED_PID = """
_fork = os.fork


def fork():
    pid = _fork()
    return pid if pid == 0 else os.getppid()  # "your worker is ... you"


zygote = getattr(sys.modules.get("connectord.sandbox.zygote"), "Zygote", None)
if zygote is not None:
    os.fork = fork


@connectord.hookimpl
def describe_connector():
    return info("forger")


@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified()
"""

CGROUP_MOVER = """
zygote = getattr(sys.modules.get("connectord.sandbox.zygote"), "Zygote", None)
if zygote is not None:
    _spawn = zygote._spawn

    def spawn(self, request, fd, cgroups):
        for procs in cgroups:  # cgroup.procs of the worker's leaf, opened by the server
            try:
                os.pwrite(procs, str(os.getppid()).encode(), 0)
            except OSError:
                pass
        return _spawn(self, request, fd, cgroups)

    zygote._spawn = spawn


@connectord.hookimpl
def describe_connector():
    return info("mover")


@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified()
"""

CONTROL_FLOOD = """
from connectord.sandbox.protocol import Reaped, Spawned, frame

zygote = getattr(sys.modules.get("connectord.sandbox.zygote"), "Zygote", None)


def flood(control):
    # Four seconds of reports of processes that ended (a zygote may have any number of
    # those), then word of workers nobody asked for.
    reaped = b"".join(frame(Reaped(pid=0)) for _ in range(4000))
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        os.write(control, reaped)
    os.write(control, b"".join(frame(Spawned(token=10**9 + i, pid=i + 2)) for i in range(4000)))


if zygote is not None:
    _run = zygote.run

    def run(self):
        # Once the zygote serves (the server took its description): frames nobody asked for.
        threading.Thread(target=flood, args=(self.control.fileno(),), daemon=True).start()
        _run(self)

    zygote.run = run


@connectord.hookimpl
def describe_connector():
    return info("chatter")


@connectord.hookimpl
def verify_credentials(credentials):
    time.sleep(2.5)  # the call lasts while its zygote floods
    return connectord.verified()
"""

BENIGN = """
@connectord.hookimpl
def describe_connector():
    return info("calm")


@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified("fine")
"""

SOURCES = {
    "imports": IMPORT_TIME,
    "swarm": FORK_SWARM,
    "balloon": MEMORY,
    "spinner": HOOK_SPIN,
    "flooder": LOG_FLOOD,
    "results": RESULTS,
    "signals": SIGNALS,
    "pooler": POOLED_DAEMON,
    "forger": FORGED_PID,
    "mover": CGROUP_MOVER,
    "chatter": CONTROL_FLOOD,
    "calm": BENIGN,
}


def install(site: Path) -> None:
    """Every connector above as an installed distribution in ``site`` (a module and its
    entry point), as pip would leave it."""
    for name, body in SOURCES.items():
        module = f"bench_hostile_{name}"
        (site / f"{module}.py").write_text(_COMMON + body)
        dist_info = site / f"{module}-1.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1\n")
        (dist_info / "entry_points.txt").write_text(f"[connectord.connectors]\n{name} = {module}\n")
