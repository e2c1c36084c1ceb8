"""Benchmark: does the server keep answering while connectors attack it?

    python bench/health_under_attack.py [--calls 3] [--baseline 3] [--tiny-objects 2000000]
                                        [--only WORDS]

Starts a real ``connectord serve`` (default settings, a temporary SQLite data directory)
with the hostile connector packages of bench/_hostile_connectors.py installed, and for each
attack class of issue #13 schedules CALLS concurrent calls of it through the exec API as
tenant ``acme`` while a poller asks ``GET /health`` every 10 ms and tenant ``globex`` calls
a benign connector over and over. A "no attack" baseline of BASELINE seconds runs before
every attack. Per attack it reports the /health latency (p50, p99, max) and whether it
stayed within 100 ms, how the attack's calls ended, whether a process of the attack is
left once its calls have ended (the descendants of the server and the processes in its
cgroups, but for zygotes: import-time code lives as long as its zygote) and how long until
none is left at all (a zygote is stopped after ``zygote_idle_seconds``, set to 2 here so
that an attacker's zygote goes between attacks), and whether the other tenant's next call
succeeds. The last line printed is one JSON object with the figures.

Settings beyond the defaults, none of them a protection: the idle time of zygotes (above),
call deadlines of 3 s (the attacks that run until their deadline end sooner), and the
``pooler`` connector pooled (its attack is a pooled worker's daemon).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import _hostile_connectors as hostile  # bench/, the script's own folder, is on its path

CONNECTORD = shutil.which("connectord", path=str(Path(sys.executable).parent)) or "connectord"
LISTENING = re.compile(r"connectord listening on (http://\S+)")
ZYGOTE_READY = re.compile(r"zygote (\d+) of connector (\S+) ready")
HEALTH_BOUND_MS = 100.0
#: Stand for the server's pid, and for the pids of the server and all its processes, in an
#: attack's credentials (known once it runs).
SERVER_PID, SERVER_TREE = "<server pid>", "<server tree>"
IDLE_SECONDS = 2
CONFIG = f"""
[sandbox]
zygote_idle_seconds = {IDLE_SECONDS}

[sandbox.default]
timeouts = {{ verify_credentials = 3, get_meta_model = 3 }}

[sandbox.connectors.pooler]
isolation = "pooled"
"""


@dataclass(frozen=True)
class Attack:
    name: str
    connector: str
    #: One call per entry: (execution type, cfg, credentials).
    calls: list[tuple[str, dict[str, Any], dict[str, Any]]]


def attacks(calls: int, tiny_objects: int) -> list[Attack]:
    def verify(connector: str, **credentials: Any) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        return [("verify_credentials", {}, credentials)] * calls

    def meta(*cfgs: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        return [("get_meta_model", cfg, {}) for cfg in cfgs]

    modes = ["deep", "surrogate", "too_large", "raw_deep", "raw_not_utf8"]
    return [
        Attack("import-time code (spin, daemons)", "imports", verify("imports")),
        Attack("fork swarm", "swarm", verify("swarm")),
        Attack("memory balloon (processes + /dev/shm)", "balloon", verify("balloon")),
        Attack("CPU spin in a hook", "spinner", verify("spinner")),
        Attack("flood of 15 MiB log lines", "flooder", verify("flooder")),
        Attack("deep / invalid / too large results", "results", meta(*({"mode": m} for m in modes))),
        Attack(
            f"result of {tiny_objects:,} empty objects",
            "results",
            meta({"mode": "tiny_objects", "count": tiny_objects}),
        ),
        Attack(
            "signals at the server and others",
            "signals",
            verify("signals", server=SERVER_PID, targets=SERVER_TREE),
        ),
        Attack("pooled worker's double-forked daemon", "pooler", verify("pooler")),
        Attack("zygote names the server as its worker", "forger", verify("forger")),
        Attack("zygote moves the server into a leaf", "mover", verify("mover")),
        Attack("zygote floods its control socket", "chatter", verify("chatter")),
    ]


class Server:
    def __init__(self, root: Path) -> None:
        site, self.data = root / "site", root / "data"
        site.mkdir()
        hostile.install(site)
        (root / "connectord.toml").write_text(CONFIG)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTORD_")}
        env |= {
            "CONNECTORD_DATA_DIR": str(self.data),
            "CONNECTORD_CONFIG": str(root / "connectord.toml"),
            "PYTHONPATH": str(site),
            "CONNECTORD_ACCESS_LOG": "false",
        }
        self.keys = {tenant: self._user(env, tenant) for tenant in ("acme", "globex")}
        self.log_path = root / "server.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [CONNECTORD, "serve", "--port", "0"], env=env, text=True, stdout=subprocess.PIPE, stderr=self._log
        )
        assert self.process.stdout is not None
        match = LISTENING.search(self.process.stdout.readline())
        if not match:
            self.process.kill()
            raise SystemExit("the server did not start")
        self.url = match.group(1)
        self.accounts = {"results": self._account("results")}

    @staticmethod
    def _user(env: dict[str, str], tenant: str) -> str:
        added = subprocess.run(
            [CONNECTORD, "users", "add", f"{tenant}@bench.test", "--tenant", tenant],
            env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        return added.stdout.strip()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def _headers(self, tenant: str) -> dict[str, str]:
        token = base64.b64encode(f"{tenant}@bench.test:{self.keys[tenant]}".encode()).decode()
        return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}

    def request(self, method: str, path: str, body: Any = None, tenant: str = "acme") -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data, self._headers(tenant), method=method)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read() or b"null")

    def _account(self, component: str) -> str:
        status, body = self.request(
            "POST", "/v1/accounts", {"name": component, "component": component, "keys": {}}
        )
        assert status in (200, 201), body
        return str(body["id"])

    def call(
        self, connector: str, kind: str, cfg: dict[str, Any], credentials: dict[str, Any], tenant: str
    ) -> str:
        """Schedule one execution, wait for its result; how it ended (its outcome's kind)."""
        body: dict[str, Any] = {"execution_type": kind, "component": connector, "account_data": credentials}
        if kind == "get_meta_model":
            body |= {"action_or_trigger": "schema", "cfg": cfg, "account_id": self.accounts[connector]}
        try:
            status, scheduled = self.request("POST", "/v1/exec/schedule", body, tenant)
            if status != 202:
                return f"schedule {status}"
            path = f"/v1/exec/poll/{scheduled['id']}?wait=30"
            while True:
                status, answer = self.request("GET", path, tenant=tenant)
                if status != 200 or "Result not ready" not in str(answer.get("message")):
                    return _ended_as(status, answer)
        except OSError as exc:
            return f"error: {type(exc).__name__}"

    def zygotes(self) -> dict[int, str]:
        """Every zygote the server logged as ready: pid → connector."""
        text = self.log_path.read_text(errors="replace")
        return {int(pid): connector for pid, connector in ZYGOTE_READY.findall(text)}

    def stop(self) -> None:
        if self.alive:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        if self.alive:
            self.process.kill()
        self.process.wait()
        self._log.close()
        if self.process.stdout:
            self.process.stdout.close()


def _ended_as(status: int, answer: Any) -> str:
    if status == 200 and isinstance(answer, dict) and "data" in answer:
        return "succeeded"
    reason = answer.get("reason") if isinstance(answer, dict) else None
    if isinstance(reason, dict):
        return str(reason.get("kind"))
    return f"HTTP {status}"


@dataclass
class Poller:
    """GET /health every 10 ms on one keep-alive connection, from a thread of its own."""

    url: str
    samples: list[tuple[float, float, bool]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        while not self._stop.is_set():
            started = time.perf_counter()
            ok = False
            try:
                connection.request("GET", "/health")
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
            took = time.perf_counter() - started
            self.samples.append((started, took * 1000, ok))
            self._stop.wait(max(0.0, 0.01 - took))
        connection.close()

    def between(self, start: float, end: float) -> list[tuple[float, bool]]:
        return [(ms, ok) for t, ms, ok in self.samples if start <= t < end]

    def stop(self) -> None:
        self._stop.set()


@contextlib.contextmanager
def benign_calls(server: Server) -> Iterator[list[tuple[str, float]]]:
    """The other tenant calling the benign connector over and over while the block runs."""
    done: list[tuple[str, float]] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set() and server.alive:
            started = time.perf_counter()
            ended = server.call("calm", "verify_credentials", {}, {}, "globex")
            done.append((ended, (time.perf_counter() - started) * 1000))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield done
    finally:
        stop.set()
        thread.join(timeout=120)


def _stat(pid: str) -> tuple[int, str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
    return (int(rest[1]), name) if rest[0] != "Z" else None


def _v2_cgroup(pid: int) -> str | None:
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    return next((line[3:] for line in lines if line.startswith("0::")), None)


def server_processes(server_pid: int) -> dict[int, str]:
    """Live processes of the server but itself: its descendants, and whatever is in the
    cgroups it made (a daemon that left its parents is still there)."""
    parents: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := _stat(entry)) is not None:
            parents[int(entry)] = found
    found_pids: set[int] = set()
    frontier = {server_pid}
    while frontier:
        frontier = {pid for pid, (ppid, _) in parents.items() if ppid in frontier} - found_pids
        found_pids |= frontier
    for top, dirs, _files in os.walk("/sys/fs/cgroup"):
        for name in [d for d in dirs if d.startswith(f"connectord-{server_pid}-")]:
            for leaf, _, files in os.walk(os.path.join(top, name)):
                if "cgroup.procs" in files:
                    with contextlib.suppress(OSError, ValueError):
                        found_pids |= {int(p) for p in Path(leaf, "cgroup.procs").read_text().split()}
        dirs[:] = [d for d in dirs if not d.startswith("connectord-")]
    return {pid: parents[pid][1] for pid in found_pids if pid in parents and pid != server_pid}


def left_behind(server: Server, attacker: str, include_zygote: bool) -> dict[int, str]:
    """The attack's processes still alive: those of no zygote's cgroup, or with
    ``include_zygote`` also the attacker's zygote and what its import code started."""
    zygotes = server.zygotes()
    kept_cgroups = {
        _v2_cgroup(pid) for pid, connector in zygotes.items() if connector != attacker or not include_zygote
    } - {None}
    return {
        pid: name
        for pid, name in server_processes(server.process.pid).items()
        if _v2_cgroup(pid) not in kept_cgroups and not (pid in zygotes and zygotes[pid] != attacker)
    }


def wait_until_none(
    server: Server, attacker: str, include_zygote: bool, limit: float
) -> tuple[float | None, dict[int, str]]:
    started = time.monotonic()
    while True:
        left = left_behind(server, attacker, include_zygote)
        if not left:
            return time.monotonic() - started, {}
        if time.monotonic() - started > limit or not server.alive:
            return None, left
        time.sleep(0.05)  # other processes ending: nothing here to wait on


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def latency(samples: list[tuple[float, bool]]) -> dict[str, Any]:
    ordered = sorted(ms for ms, _ in samples)
    if not ordered:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None, "within_100ms": False, "failed": 0}
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(percentile(ordered, 0.99), 1),
        "max_ms": round(ordered[-1], 1),
        "within_100ms": ordered[-1] <= HEALTH_BOUND_MS and all(ok for _, ok in samples),
        "failed": sum(not ok for _, ok in samples),
    }


def run_baseline(server: Server, poller: Poller, seconds: float) -> dict[str, Any]:
    with benign_calls(server) as benign:
        start = time.perf_counter()
        time.sleep(seconds)  # the baseline is time without attack: nothing to wait for
        end = time.perf_counter()
    return {**latency(poller.between(start, end)), "benign": _benign(benign)}


def run_attack(server: Server, poller: Poller, attack: Attack) -> dict[str, Any]:
    with benign_calls(server) as benign, ThreadPoolExecutor(len(attack.calls)) as pool:
        start = time.perf_counter()
        calls = [
            (kind, cfg, _with_pids(credentials, server.process.pid))
            for kind, cfg, credentials in attack.calls
        ]
        ended = list(pool.map(lambda c: server.call(attack.connector, c[0], c[1], c[2], "acme"), calls))
        end = time.perf_counter()
    if server.alive:
        os.kill(server.process.pid, signal.SIGCONT)  # should an attack have stopped it
    figures = latency(poller.between(start, end))
    _, workers_left = wait_until_none(server, attack.connector, include_zygote=False, limit=2.0)
    gone_s, left = wait_until_none(server, attack.connector, include_zygote=True, limit=5 * IDLE_SECONDS + 5)
    after = server.call("calm", "verify_credentials", {}, {}, "globex") if server.alive else "server gone"
    return {
        **figures,
        "seconds": round(end - start, 1),
        "outcomes": dict(Counter(ended)),
        "left_after_calls": sorted(set(workers_left.values())),
        "all_gone_s": None if gone_s is None else round(gone_s, 2),
        "left": sorted(set(left.values())),
        "benign": _benign(benign),
        "benign_after": after,
        "server_alive": server.alive,
    }


def _with_pids(credentials: dict[str, Any], pid: int) -> dict[str, Any]:
    known = {SERVER_PID: pid, SERVER_TREE: [pid, *server_processes(pid)]}
    return {
        key: known.get(value, value) if isinstance(value, str) else value
        for key, value in credentials.items()
    }


def _benign(done: list[tuple[str, float]]) -> dict[str, Any]:
    ok = [ms for ended, ms in done if ended == "succeeded"]
    return {"calls": len(done), "succeeded": len(ok), "max_ms": round(max(ok), 1) if ok else None}


def row(name: str, figures: dict[str, Any]) -> str:
    """One line of the table: the attack's figures, or a baseline's (no attack columns)."""

    def ms(key: str) -> str:
        return "-" if figures.get(key) is None else f"{figures[key]:,.1f}"

    cells = [name, ms("p50_ms"), ms("p99_ms"), ms("max_ms"), "yes" if figures["within_100ms"] else "NO"]
    benign = f"{figures['benign']['succeeded']}/{figures['benign']['calls']}"
    if "outcomes" not in figures:
        return "| " + " | ".join([*cells, "", "", "", benign]) + " |"
    gone = "-" if figures["all_gone_s"] is None else f"{figures['all_gone_s']:.1f} s"
    if figures["left"]:
        gone = "NOT: " + ", ".join(figures["left"])
    cells += [
        ", ".join(f"{n} {kind}" for kind, n in figures["outcomes"].items()),
        ", ".join(figures["left_after_calls"]) or "none",
        gone,
        f"{benign}, after: {figures['benign_after']}",
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| attack | p50 | p99 | max | max ≤ 100 ms | outcomes | left after its calls | all gone after"
    " | other tenant's calls: during, after |"
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=3, help="concurrent calls per attack")
    parser.add_argument("--baseline", type=float, default=3.0, help="seconds of each no-attack baseline")
    parser.add_argument("--tiny-objects", type=int, default=2_000_000, help="empty objects in one result")
    parser.add_argument("--only", default="", help="the attacks whose name holds these words")
    args = parser.parse_args()

    results: dict[str, Any] = {"baselines": [], "attacks": {}}
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp))
        poller = Poller(server.url)
        polling = threading.Thread(target=poller.run, daemon=True)
        polling.start()
        try:
            for attack in attacks(args.calls, args.tiny_objects):
                if args.only not in attack.name:
                    continue
                if not server.alive:
                    results["attacks"][attack.name] = {"skipped": "the server is gone"}
                    continue
                baseline = run_baseline(server, poller, args.baseline)
                results["baselines"].append(baseline)
                lines.append(row("no attack", baseline))
                figures = run_attack(server, poller, attack)
                results["attacks"][attack.name] = figures
                lines.append(row(attack.name, figures))
                print(lines[-2] + "\n" + lines[-1], file=sys.stderr, flush=True)
        finally:
            poller.stop()
            polling.join()
            results["server_exit"] = server.process.poll()
            server.stop()

    print(f"/health every 10 ms during each attack ({os.cpu_count()} cores); latencies in ms")
    print(HEADER)
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for line in lines:
        print(line)
    skipped = [name for name, f in results["attacks"].items() if "skipped" in f]
    if skipped:
        print(f"not run, the server was gone: {', '.join(skipped)} (its exit: {results['server_exit']})")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
