"""Hostile connector packages installed next to a real ``connectord serve`` with default
settings, and two tenants calling them through the exec API: every line of connector code,
what runs at import included, is confined (issue: "the sandbox boundary").

``intruder`` tries, at import (in the process describing it and in its zygote), in an
at-fork handler (in every worker) and in its hook, what a hostile author would: read the
server's key, store, environment, memory and a 0600 file of the server's in a path it may
write, signal the server, leave a daemon and a descriptor behind, pass files between
tenants; where the server is root, it does all that as a user of its own. ``claimant``
claims the bundled ``sql`` connector's job type and tampers with everything its import
can reach.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import CONNECTORD
from .sandboxing import sandbox_config
from .server import alive, running_server, server_env

BAIT = "bait-only-in-the-servers-environment"

INTRUDER = '''
import gc
import json
import os
import resource
import sys
import time

import connectord

DATA = {data!r}
SERVER_FILE = {server_file!r}
FOUND = {{}}
AT_FORK = {{}}


def attempt(into, name, action):
    try:
        into[name] = action()
    except BaseException as exc:
        into[name] = type(exc).__name__


def read(path):
    with open(path, "rb") as f:
        return "read " + str(len(f.read(64)))


def capabilities():
    with open("/proc/self/status") as f:
        return [line.split()[1] for line in f if line.startswith("CapEff")][0]


def daemon():
    """Fork twice, leave the session: the classic way to outlive whoever started you."""
    r, w = os.pipe()
    first = os.fork()
    if first == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(w, str(os.getpid()).encode())
            time.sleep(600)
        os._exit(0)
    os.waitpid(first, 0)
    os.close(w)
    return int(os.read(r, 32))


def park_descriptor():
    """A pipe parked at descriptor 900, above the open-files limit it then lowers to 64."""
    _, w = os.pipe()
    os.dup2(w, 900)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    return "parked"


attempt(FOUND, "secret_key", lambda: read(os.path.join(DATA, "secret.key")))
attempt(FOUND, "store", lambda: read(os.path.join(DATA, "connectord.sqlite3")))
attempt(FOUND, "environment", lambda: os.environ.get("INTRUDER_BAIT", "absent"))
attempt(FOUND, "server_environ", lambda: read(f"/proc/{{os.getppid()}}/environ"))
attempt(FOUND, "server_mem", lambda: read(f"/proc/{{os.getppid()}}/mem"))
attempt(FOUND, "signal_server", lambda: os.kill(os.getppid(), 0) or "sent")
attempt(FOUND, "server_file", lambda: read(SERVER_FILE))
attempt(FOUND, "uid", os.getuid)
attempt(FOUND, "capabilities", capabilities)
attempt(FOUND, "daemon", daemon)
attempt(FOUND, "descriptor", park_descriptor)


def in_every_worker():
    attempt(AT_FORK, "secret_key", lambda: read(os.path.join(DATA, "secret.key")))
    attempt(AT_FORK, "capabilities", capabilities)
    attempt(AT_FORK, "uid", os.getuid)


os.register_at_fork(after_in_child=in_every_worker)


@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(id="intruder", title="Intruder", version="1")


def limits_of(pid):
    """Reading them is as allowed as lowering them (its open files to 3: no connection again)."""
    return resource.prlimit(pid, resource.RLIMIT_NOFILE) and "read"


def in_the_call(credentials):
    seen = {{}}
    attempt(seen, "descriptor", lambda: os.fstat(900) and "open")
    attempt(seen, "signal_server", lambda: os.kill(credentials["server"], 0) or "sent")
    attempt(seen, "signal_zygote", lambda: os.kill(os.getppid(), 0) or "sent")
    attempt(seen, "server_file", lambda: read(SERVER_FILE))
    attempt(seen, "uid", os.getuid)
    attempt(seen, "server_limits", lambda: limits_of(credentials["server"]))
    attempt(seen, "tmpdir", lambda: os.environ.get("TMPDIR", ""))
    if credentials.get("leave"):
        mine = os.path.join(os.environ["TMPDIR"], "tenant-secret")
        with open(mine, "w") as f:
            f.write(credentials["leave"])
        attempt(seen, "write_tmp", lambda: open("/tmp/tenant-secret", "w").write("x"))
        attempt(seen, "write_shm", lambda: open("/dev/shm/tenant-secret", "w").write("x"))
        seen["left"] = mine
    if credentials.get("take"):
        attempt(seen, "take", lambda: read(credentials["take"]))
        attempt(seen, "take_tmp", lambda: read("/tmp/tenant-secret"))
    return seen


@connectord.hookimpl
def verify_credentials(credentials):
    report = {{"import": FOUND, "at_fork": AT_FORK, "call": in_the_call(credentials)}}
    return connectord.verified(json.dumps(report))
'''

CLAIMANT = """
import gc

import msgspec

import connectord
import connectord.plugins.manager as manager

# In one process with the others, this would hand it the bundled sql connector's job type:
# no clash check, and sql's description (if loaded) stripped of it.
manager.job_type_clash = lambda *args, **kwargs: None
for thing in gc.get_objects():
    if isinstance(thing, connectord.ConnectorInfo) and thing.id == "sql":
        thing.job_types = []

RUN_QUERY = connectord.JobType(
    code="runQuery", title="Steal the password", params_schema={{"type": "object"}}
)


@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(id="claimant", title="Claimant", version="1", job_types=[RUN_QUERY])


@connectord.hookimpl
def run_job(job_type, params, credentials):
    return connectord.JobResult(data={{"stolen": credentials}})
"""


#: A schema that refers to a URL: jsonschema would fetch it, in the process checking a call.
REFERRER = """
import connectord

SCHEMA = {{"type": "object", "properties": {{"token": {{"$ref": "http://127.0.0.1:{port}/token.json"}}}}}}


@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(id="referrer", title="Referrer", version="1", credentials_schema=SCHEMA)


@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified()
"""


class Server:
    def __init__(self, url: str, email: str, keys: dict[str, str], process: subprocess.Popen[str]) -> None:
        self.url, self.email, self.keys, self.process = url, email, keys, process

    def get(self, path: str, tenant: str = "acme") -> tuple[int, Any]:
        request = urllib.request.Request(self.url + path, headers=self._auth(tenant))
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    def verify(self, component: str, data: dict[str, Any], tenant: str = "acme") -> dict[str, Any]:
        """Schedule a verify_credentials call, wait for it and return its result."""
        body = json.dumps(
            {"execution_type": "verify_credentials", "component": component, "account_data": data}
        )
        request = urllib.request.Request(
            self.url + "/v1/exec/schedule",
            data=body.encode(),
            headers={**self._auth(tenant), "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            location = response.headers["Location"]
        status, result = self.get(location.removeprefix(self.url) + "?wait=30", tenant)
        assert status == 200, result
        return dict(result)

    def report(self, data: dict[str, Any], tenant: str = "acme") -> dict[str, Any]:
        result = self.verify("intruder", {"server": self.process.pid, **data}, tenant)
        assert "data" in result, result
        return dict(json.loads(result["data"]["message"]))

    def _auth(self, tenant: str) -> dict[str, str]:
        token = base64.b64encode(f"{tenant}@{self.email}:{self.keys[tenant]}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


@pytest.fixture(scope="module")
def tarpit() -> Iterator[socket.socket]:
    """A port that takes connections and never answers: whatever connects waits forever.
    Nothing accepts them, so a connection made is one left in its queue."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    listener.setblocking(False)
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def served(
    install_connector: Callable[[str, str], Path],
    tmp_path_factory: pytest.TempPathFactory,
    tarpit: socket.socket,
) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("hostile-server") / "data"
    # In a path every connector may write (so Landlock lets them read it): only its mode keeps it.
    server_file = tmp_path_factory.mktemp("server-files") / "server-only"
    server_file.write_text("the server's alone")
    server_file.chmod(0o600)
    intruder = install_connector("intruder", INTRUDER.format(data=str(data), server_file=str(server_file)))
    claimant = install_connector("claimant", CLAIMANT.format())
    referrer = install_connector("referrer", REFERRER.format(port=tarpit.getsockname()[1]))
    env = server_env(data, intruder, claimant, referrer) | {"INTRUDER_BAIT": BAIT}
    other = subprocess.run(
        [CONNECTORD, "users", "add", "globex@hostile.test", "--tenant", "globex"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert other.returncode == 0, other.stderr
    with running_server(env, "acme@hostile.test", "acme") as server:
        keys = {"acme": server.api_key, "globex": other.stdout.strip()}
        yield Server(server.url, "hostile.test", keys, server.process)


def test_import_time_code_reaches_nothing_of_the_server(served: Server) -> None:
    found = served.report({})["import"]
    # the data directory is an empty tmpfs to it; the environment is empty
    assert found["secret_key"] == "FileNotFoundError"
    assert found["store"] == "FileNotFoundError"
    assert found["environment"] == "absent"
    # the server is outside its Landlock domain and not dumpable: no memory, no environment, no
    # signal; where the connector has a user of its own (root), not even in its /proc (hidepid)
    refused = "FileNotFoundError" if os.geteuid() == 0 else "PermissionError"
    assert found["server_environ"] == refused
    assert found["server_mem"] == refused
    assert found["signal_server"] == "PermissionError"
    assert found["capabilities"] == "0000000000000000"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root gives connectors users of their own")
def test_every_line_of_a_connector_runs_as_a_user_of_its_own(served: Server) -> None:
    report = served.report({})
    uid = report["import"]["uid"]
    assert uid not in (0, os.getuid()) and report["at_fork"]["uid"] == report["call"]["uid"] == uid
    zygotes = [z for z in _zygotes_of(served.process.pid) if _uid_of(z) == uid]
    assert zygotes, "no zygote runs as the intruder's user"
    # a 0600 file of the server's, where Landlock lets it read: the file mode keeps it out
    assert report["import"]["server_file"] == report["call"]["server_file"] == "PermissionError"


def test_an_at_fork_handler_runs_confined_in_every_worker(served: Server) -> None:
    at_fork = served.report({})["at_fork"]
    assert at_fork.pop("uid") == served.report({})["import"]["uid"]
    assert at_fork == {"secret_key": "FileNotFoundError", "capabilities": "0000000000000000"}


def test_a_descriptor_parked_above_the_open_files_limit_reaches_no_worker(served: Server) -> None:
    report = served.report({})
    assert report["import"]["descriptor"] == "parked"
    assert report["call"]["descriptor"] == "OSError"


def test_a_worker_signals_neither_the_server_nor_its_zygote(served: Server) -> None:
    call = served.report({})["call"]
    assert call["signal_server"] == "PermissionError"
    assert call["signal_zygote"] == "PermissionError"


def test_a_worker_cannot_touch_the_servers_limits(served: Server) -> None:
    assert served.report({})["call"]["server_limits"] == "PermissionError"


def test_files_pass_between_no_tenants(served: Server) -> None:
    left = served.report({"leave": "acme's secret"}, tenant="acme")["call"]
    assert left["tmpdir"].startswith("/tmp/worker-")
    assert left["write_tmp"] == "PermissionError"  # only its own directory is writable
    assert left["write_shm"] == "PermissionError"
    taken = served.report({"take": left["left"]}, tenant="globex")["call"]
    # gone with acme's worker, and out of globex's reach while it was there
    assert taken["take"] in ("FileNotFoundError", "PermissionError")
    assert taken["take_tmp"] in ("FileNotFoundError", "PermissionError")


def test_the_configuration_file_is_hidden_like_the_data_directory(served: Server) -> None:
    """It may hold the metrics token, and may lie where a connector may read (here: a
    writable path of the tests' configuration)."""
    config = sandbox_config()["CONNECTORD_CONFIG"]
    assert Path(config).read_text()
    assert served.report({"take": config})["call"]["take"] == "read 0"  # /dev/null over it


def test_daemons_started_at_import_do_not_outlive_their_process(served: Server) -> None:
    daemon = served.report({})["import"]["daemon"]
    assert isinstance(daemon, int)
    zygote = next(z for z in _zygotes_of(served.process.pid) if _daemon_parent(daemon) in (z, 1, None))
    assert alive(daemon)  # the zygote's own daemon lives as long as the zygote ...
    os.kill(zygote, signal.SIGKILL)  # ... and no longer, whatever ends it
    for _ in range(200):
        if not alive(daemon):
            break
        time.sleep(0.05)  # another process's end: nothing here to wait on
    assert not alive(daemon)
    assert served.report({})["call"]["tmpdir"]  # the next call starts a zygote again


def test_a_connector_cannot_take_another_connectors_job_type(served: Server) -> None:
    status, job_type = served.get("/v1/job-types/runQuery")
    assert status == 200
    assert job_type["component"] == "sql"
    status, components = served.get("/v1/components")
    failures = {f["id"]: f["reason"] for f in components["errors"]}
    assert "runQuery" in failures.get("claimant", ""), components


def test_a_schema_that_refers_to_a_url_is_a_load_failure_and_nothing_fetches_it(
    served: Server, tarpit: socket.socket
) -> None:
    """jsonschema fetched such a reference with ``urlopen`` and no timeout, on the server's
    event loop: one call of a tenant made the server connect where the connector chose and
    hold every request while the other end kept quiet."""
    _, components = served.get("/v1/components")
    reason = {f["id"]: f["reason"] for f in components["errors"]}.get("referrer", "")
    assert "properties.token.$ref" in reason and "refers outside the schema" in reason, components
    with pytest.raises(urllib.error.HTTPError) as refused:
        served.verify("referrer", {"token": "t"}, tenant="globex")
    refused.value.close()
    assert refused.value.code == 400
    with pytest.raises(BlockingIOError):
        tarpit.accept()  # no connection was ever made to it
    assert served.get("/health")[0] == 200


def test_the_server_answers_health_and_other_tenants_throughout(served: Server) -> None:
    status, _ = served.get("/health")
    assert status == 200
    result = served.verify("sql", {"url": "sqlite:////nonexistent.db"}, tenant="globex")
    assert result["data"]["verified"] is False


def _zygotes_of(server: int) -> list[int]:
    children = []
    for task in os.listdir(f"/proc/{server}/task"):
        children += [int(p) for p in Path(f"/proc/{server}/task/{task}/children").read_text().split()]
    return children


def _uid_of(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def _daemon_parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError):
        return None
