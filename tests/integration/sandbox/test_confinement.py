"""The optional confinements of a worker (seccomp, Landlock) and the one always on (no
process may inspect a worker), seen from inside a real worker: what a connector tries,
and what it gets."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest

from connectord.plugins.manager import Selection
from connectord.runtime.calls import run_in_sandbox
from connectord.sandbox import landlock
from connectord.sandbox.calls import Call
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.outcomes import Succeeded
from connectord.sandbox.policy import SandboxPolicy
from connectord.sandbox.supervisor import SPARE, Supervisor

from .conftest import DEFAULT

pytestmark = pytest.mark.asyncio(loop_scope="module")

REFUSED = os.strerror(1)  # EPERM: "Operation not permitted"
#: How the prober names a refusal with EPERM.
REFUSED_NAME = "PermissionError"
#: Reading another process's /proc entry: where each connector runs as a user of its own
#: (the server is root here), its procfs does not even list it (hidepid); else Landlock
#: or the process's non-dumpability refuses.
OTHERS_PROC = "FileNotFoundError" if os.geteuid() == 0 else "PermissionError"
needs_landlock = pytest.mark.skipif(landlock.abi_version() < 1, reason="this kernel has no Landlock")


@asynccontextmanager
async def prober(
    hostile_on_path: None, user_ids: bool | str = "auto", **limits: Any
) -> AsyncIterator[Supervisor]:
    """A supervisor running the prober connector with the default limits changed by ``limits``."""
    policy = msgspec.structs.replace(DEFAULT, limits=msgspec.structs.replace(DEFAULT.limits, **limits))
    selection = Selection(allow=frozenset({"prober"}))
    sandbox = SandboxPolicy(default=policy, user_ids=user_ids)
    supervisor = Supervisor(selection, sandbox, Cgroups(None, None))
    await supervisor.start()
    try:
        yield supervisor
    finally:
        await supervisor.close()


async def probe(supervisor: Supervisor, what: str, path: Path | str = "", isolation: str = "per-call") -> str:
    """What the prober says of trying ``what``: "done", or the error it got."""
    credentials = {"probe": what, "path": str(path)}
    result = await run_in_sandbox(
        supervisor,
        Call(connector="prober", method="verify_credentials", credentials=credentials),
        isolation=isolation,  # type: ignore[arg-type]
    )
    assert isinstance(result.outcome, Succeeded), result.outcome
    return str(result.outcome.data["message"]).split(": ", 1)[1]


async def pid_of_probe(supervisor: Supervisor, what: str, path: Path, isolation: str) -> str:
    credentials = {"probe": what, "path": str(path)}
    result = await run_in_sandbox(
        supervisor,
        Call(connector="prober", method="verify_credentials", credentials=credentials),
        isolation=isolation,  # type: ignore[arg-type]
    )
    assert isinstance(result.outcome, Succeeded), result.outcome
    return str(result.outcome.data["message"]).split(":")[0]


async def test_no_process_can_inspect_a_worker(hostile_on_path: None) -> None:
    async with prober(hostile_on_path) as supervisor:
        assert await probe(supervisor, "dumpable") == "0"


async def test_seccomp_refuses_what_a_connector_never_needs(hostile_on_path: None) -> None:
    # As the server's user: a user id of the connector's own would refuse prlimit by itself.
    async with prober(hostile_on_path, user_ids=False, seccomp=False) as open_worker:
        assert await probe(open_worker, "traceme") == "done"
        assert await probe(open_worker, "prlimit", str(os.getpid())) == "done"
    async with prober(hostile_on_path, user_ids=False, seccomp=True) as filtered:
        for what in ("traceme", "unshare", "clone_newuser", "clone_parent", "bpf"):
            assert await probe(filtered, what) == REFUSED, what
        # another process's limits: the supervisor's, which it could lower else
        assert await probe(filtered, "prlimit", str(os.getpid())) == "PermissionError"
        # what connectors do stays possible: threads, children, programs
        for what in ("thread", "subprocess"):
            assert await probe(filtered, what) == "done", what
        assert await probe(filtered, "dumpable") == "0"


def _host_ipc_keys() -> set[int]:
    """The keys of the System V objects of the host's IPC namespace (this test's)."""
    keys = set()
    for kind in ("shm", "msg", "sem"):
        lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        keys |= {int(line.split()[0]) for line in lines}
    return keys


async def test_system_v_ipc_is_refused_and_what_is_made_without_seccomp_never_reaches_the_host(
    hostile_on_path: None,
) -> None:
    """A worker's shared memory outlived its call, its cgroup, its zygote and the server,
    in the host's IPC namespace: 200 MB per call, until the host ran out of memory."""
    key = 0x5EC0000 + os.getpid() % 0x10000
    async with prober(hostile_on_path, user_ids=False, seccomp=True) as filtered:
        for what in ("shmget", "msgget", "semget"):
            assert await probe(filtered, what, str(key)) == REFUSED, what
    async with prober(hostile_on_path, user_ids=False, seccomp=False) as open_worker:
        for what in ("shmget", "msgget", "semget"):
            assert await probe(open_worker, what, str(key + 1)) == "left", what
            assert key + 1 not in _host_ipc_keys(), what  # made in its zygote's namespace
    assert key + 1 not in _host_ipc_keys()


async def test_a_worker_holds_no_capability_even_as_root(hostile_on_path: None) -> None:
    # Without Landlock: the program it runs reads its own /proc entry, which Landlock allows
    # the worker alone.
    async with prober(hostile_on_path, landlock=False) as supervisor:
        none = ",".join(["0000000000000000"] * 3)
        assert await probe(supervisor, "capabilities") == f"{none}|{none}"
        assert await probe(supervisor, "raise_limit") == "ValueError"  # not permitted


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may write these files by their mode")
async def test_a_root_worker_cannot_write_kernel_settings(hostile_on_path: None, tmp_path: Path) -> None:
    """Root without capabilities may still write what its file mode lets root write: where
    connectors have no user of their own, their view of those files is read-only (with
    one, the file mode refuses them first)."""
    kernel_files = ["/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger", "/sys/fs/cgroup/cgroup.procs"]
    for user_ids, refused in ((False, "OSError"), ("auto", "PermissionError")):
        async with prober(hostile_on_path, user_ids, hidden_paths=[str(tmp_path / "data")]) as supervisor:
            for path in kernel_files:
                if os.path.exists(path):
                    assert await probe(supervisor, "open_for_writing", path) == refused, (path, user_ids)


@pytest.mark.parametrize("seccomp", [False, True])
async def test_a_worker_cannot_uncover_a_hidden_path(
    hostile_on_path: None, tmp_path: Path, seccomp: bool
) -> None:
    """Neither by unmounting what hides it (it is root in its mount namespace) nor through
    its zygote's view of the files (/proc/ZYGOTE/root) or memory (/proc/ZYGOTE/mem)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret.key").write_text("the server's key")
    async with prober(hostile_on_path, hidden_paths=[str(data)], seccomp=seccomp) as supervisor:
        assert await probe(supervisor, "umount", data) == REFUSED
        assert await probe(supervisor, "read", data / "secret.key") == "FileNotFoundError"
        zygote = supervisor.zygote_for("prober").pid
        assert await probe(supervisor, "read", f"/proc/{zygote}/root{data}/secret.key") == OTHERS_PROC
        assert await probe(supervisor, "read", f"/proc/{zygote}/mem") == OTHERS_PROC


async def test_a_hidden_file_stays_hidden_when_replaced_or_created_later(
    hostile_on_path: None, tmp_path: Path
) -> None:
    """The zygote hides paths once for all its workers: a file replaced by a rename (its
    hiding mount goes with the old one) or created after that must be hidden all the same."""
    store, wal = tmp_path / "store.sqlite3", tmp_path / "store.sqlite3-wal"
    store.write_text("first secret")
    async with prober(hostile_on_path, hidden_paths=[str(store), str(wal)]) as supervisor:
        assert await probe(supervisor, "content", store, "pooled") == "''"
        assert await probe(supervisor, "content", wal) == "FileNotFoundError"
        # a pooled worker and a spare forked ahead are waiting: they saw what their zygote saw
        spare = await supervisor._spare("prober")
        assert spare is not None
        supervisor._idle[SPARE, "prober"].append(spare)
        replacement = tmp_path / "replacement"
        replacement.write_text("second secret")
        replacement.rename(store)
        wal.write_text("written later")
        assert await probe(supervisor, "content", store) == "''"
        assert await probe(supervisor, "content", store, "pooled") == "''"
        assert await probe(supervisor, "content", wal) == "''"


async def test_a_server_working_inside_its_data_directory_does_not_show_it(
    hostile_on_path: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker starts in the server's working directory: a relative path from there must
    not reach beneath the hiding (systemd's WorkingDirectory is often the data directory)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret.key").write_text("the server's key")
    monkeypatch.chdir(data)
    async with prober(hostile_on_path, hidden_paths=[str(data)]) as supervisor:
        assert await probe(supervisor, "read", "secret.key") == "FileNotFoundError"
        assert await probe(supervisor, "read", data / "secret.key") == "FileNotFoundError"


@needs_landlock
async def test_landlock_confines_reads_and_writes(
    hostile_on_path: None, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    readable, writable, elsewhere = (tmp_path / name for name in ("readable", "writable", "elsewhere"))
    for directory in (readable, writable, elsewhere):
        directory.mkdir()
        (directory / "file").write_text("content")
    writable.chmod(0o777)  # as its operator would: the connector may run as a user of its own
    confined = {"landlock": True, "readable_paths": [str(readable)], "writable_paths": [str(writable)]}
    abstract = f"connectord-test-{os.getpid()}"
    listener = socket.socket(socket.AF_UNIX)
    request.addfinalizer(listener.close)
    listener.bind("\0" + abstract)
    listener.listen()
    # (beneath /tmp, only what the configuration names is there at all)
    async with prober(hostile_on_path, landlock=False, readable_paths=[str(elsewhere)]) as open_worker:
        assert await probe(open_worker, "read", elsewhere / "file") == "done"
        # the server's command line: there to read but for its user's own procfs (hidepid)
        cmdline = await probe(open_worker, "read", f"/proc/{os.getpid()}/cmdline")
        assert cmdline == ("FileNotFoundError" if os.geteuid() == 0 else "done")
        # without file confinement too, where the kernel can (ABI 6), it can neither signal nor
        # reach a process outside its own domain (another tenant's worker)
        scoped = "PermissionError" if landlock.abi_version() >= 6 else "done"
        assert await probe(open_worker, "signal") == scoped
        assert await probe(open_worker, "abstract", abstract) == scoped
    async with prober(hostile_on_path, **confined) as supervisor:
        assert await probe(supervisor, "read", readable / "file") == "done"
        # (beneath /tmp, bound back read-only: EROFS before Landlock's EACCES)
        assert await probe(supervisor, "write", readable / "file") == "OSError"
        assert await probe(supervisor, "write", writable / "new") == "done"
        assert (writable / "new").read_text() == "written"
        # not there at all (beneath the emptied /tmp), elsewhere it would be refused
        assert await probe(supervisor, "read", elsewhere / "file") == "FileNotFoundError"
        assert await probe(supervisor, "write", elsewhere / "new") == "FileNotFoundError"
        # (with a user of its own, /root is covered: only the interpreter beneath it is there)
        assert await probe(supervisor, "read", "/root/.profile") in ("PermissionError", "FileNotFoundError")
        # /proc: only the worker's own entry is readable (a file of the server's, below)
        assert await probe(supervisor, "read", f"/proc/{os.getpid()}/cmdline") == OTHERS_PROC
        # nor signal or reach processes outside its own domain (another tenant's worker)
        if landlock.abi_version() >= 6:
            assert await probe(supervisor, "signal") == "PermissionError"
            assert await probe(supervisor, "abstract", abstract) == "PermissionError"
        # what any connector needs still works: certificates, lazy imports, programs
        assert await probe(supervisor, "read", "/etc/hosts") == "done"
        assert await probe(supervisor, "subprocess") == "done"
    assert not (elsewhere / "new").exists()


@pytest.fixture
def service_socket(request: pytest.FixtureRequest) -> Path:
    """A listening unix socket in a directory of /run, where the host's services keep theirs."""
    directory = Path("/run", f"connectord-test-{os.getpid()}")
    try:
        directory.mkdir()
    except OSError as exc:
        pytest.skip(f"cannot make a directory in /run: {exc}")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(directory / "service.sock"))
    (directory / "service.sock").chmod(0o777)  # as PostgreSQL's: any user may connect
    listener.listen()

    def remove() -> None:
        listener.close()
        (directory / "service.sock").unlink()
        directory.rmdir()

    request.addfinalizer(remove)
    return directory / "service.sock"


@pytest.mark.parametrize("network", [True, False])
async def test_a_worker_reaches_no_service_of_the_host_through_a_named_socket(
    hostile_on_path: None, service_socket: Path, network: bool
) -> None:
    """Neither Landlock (up to ABI 7) nor a network namespace stops a connect() to a named
    unix socket: the host's /run is out of its sight, but for what the configuration names."""
    unseen = "FileNotFoundError" if network else REFUSED_NAME  # no unix socket at all (below)
    async with prober(hostile_on_path, network=network) as supervisor:
        assert await probe(supervisor, "named", service_socket) == unseen
        assert await probe(supervisor, "read", "/etc/hosts") == "done"
    granted = [str(service_socket.parent)]
    async with prober(hostile_on_path, network=network, readable_paths=granted) as supervisor:
        # without network, seccomp refuses every unix socket (below): a granted one too
        assert await probe(supervisor, "named", service_socket) == ("done" if network else REFUSED_NAME)


@pytest.fixture
def sockets_elsewhere(request: pytest.FixtureRequest) -> tuple[Path, Path]:
    """A listening stream socket and a bound datagram socket, any user's to use, in a directory
    that no mount covers (outside /run, /tmp and /dev: a service's under /var/lib, say)."""
    directory = Path("/var/tmp", f"connectord-test-{os.getpid()}")
    directory.mkdir(mode=0o755)
    stream, datagram = socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    paths = (directory / "stream.sock", directory / "datagram.sock")
    stream.bind(str(paths[0]))
    datagram.bind(str(paths[1]))
    stream.listen()
    for path in paths:
        path.chmod(0o777)

    def remove() -> None:
        stream.close()
        datagram.close()
        shutil.rmtree(directory)

    request.addfinalizer(remove)
    return paths


@pytest.mark.parametrize("network", [True, False])
async def test_without_network_no_named_socket_is_reachable_wherever_it_is(
    hostile_on_path: None, sockets_elsewhere: tuple[Path, Path], network: bool
) -> None:
    """A named socket outside the covered directories is no network a namespace cuts nor a
    file Landlock (up to ABI 7) governs: without network, seccomp refuses the unix socket
    itself, and a datagram pair (which could send to one); a connected stream pair, as
    asyncio makes, still works."""
    stream, datagram = sockets_elsewhere
    expected = "done" if network else REFUSED_NAME
    async with prober(hostile_on_path, network=network) as supervisor:
        assert await probe(supervisor, "named", stream) == expected
        assert await probe(supervisor, "datagram_pair", datagram) == expected
        assert await probe(supervisor, "raw_pair", datagram) == expected
        assert await probe(supervisor, "stream_pair") == "done"


def _host_has(family: int) -> bool:
    try:
        socket.socket(family, socket.SOCK_STREAM).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize("network", [True, False])
async def test_a_worker_opens_no_socket_family_but_unix_ip_and_netlink(
    hostile_on_path: None, network: bool
) -> None:
    """AF_VSOCK is no network a namespace cuts: from a virtual machine it reaches the
    hypervisor's host. It and every other family (AF_ALG: the kernel's crypto) fail as where
    the kernel lacks them; without seccomp, what the host has is there."""
    vsock, alg = socket.AF_VSOCK, socket.AF_ALG
    async with prober(hostile_on_path, network=network) as supervisor:
        assert await probe(supervisor, "family", str(vsock)) == "EAFNOSUPPORT"
        assert await probe(supervisor, "family", str(alg)) == "EAFNOSUPPORT"
        # the kernel reads an int: upper bits set are not taken for the family below them
        assert await probe(supervisor, "family", str(1 << 32 | socket.AF_INET)) == "EAFNOSUPPORT"
        assert await probe(supervisor, "family", str(socket.AF_INET6)) == "done"
    async with prober(hostile_on_path, network=network, seccomp=False) as supervisor:
        assert (await probe(supervisor, "family", str(vsock)) == "done") == _host_has(vsock)


@pytest.fixture
def device_socket(request: pytest.FixtureRequest) -> Path:
    """A listening unix socket in /dev, where a syslog daemon keeps /dev/log."""
    path = Path("/dev", f"connectord-test-{os.getpid()}.sock")
    listener = socket.socket(socket.AF_UNIX)
    try:
        listener.bind(str(path))
    except OSError as exc:
        listener.close()
        pytest.skip(f"cannot make a socket in /dev: {exc}")
    path.chmod(0o777)  # as /dev/log: any user may connect
    listener.listen()

    def remove() -> None:
        listener.close()
        path.unlink()

    request.addfinalizer(remove)
    return path


@pytest.mark.parametrize("network", [True, False])
async def test_a_worker_reaches_no_service_listening_in_dev(
    hostile_on_path: None, device_socket: Path, network: bool
) -> None:
    """/dev stays (a worker needs its devices), but a socket in it is the host's: covered."""
    async with prober(hostile_on_path, network=network) as supervisor:
        refused = "ConnectionRefusedError" if network else REFUSED_NAME  # no unix socket at all
        assert await probe(supervisor, "named", device_socket) == refused
        assert await probe(supervisor, "read", "/dev/null") == "done"


@needs_landlock
async def test_a_pooled_worker_confined_by_landlock_is_reused(hostile_on_path: None, tmp_path: Path) -> None:
    """It can still tell it left nothing running (through its own /proc entry)."""
    async with prober(hostile_on_path, landlock=True, seccomp=True) as supervisor:
        first = await pid_of_probe(supervisor, "read", Path("/etc/hosts"), "pooled")
        assert await pid_of_probe(supervisor, "read", Path("/etc/hosts"), "pooled") == first


#: What a package installed into the server's environment can add to it: a file that
#: ``site`` runs at every start of an interpreter of that environment. This one notes the
#: pid of each such start while its marker directory exists.
PTH = "import os; d = {marker!r}; os.path.isdir(d) and open(os.path.join(d, str(os.getpid())), 'w').close()\n"


@pytest.fixture
def pth_in_the_environment(tmp_path: Path) -> Iterator[Path]:
    """A ``.pth`` in this environment's site-packages, for the test's duration, and the
    directory where it notes what ran it."""
    marker = tmp_path / "ran-the-pth"
    marker.mkdir()
    marker.chmod(0o777)  # a connector's own user may write it too
    tmp_path.chmod(0o755)
    pth = Path(sysconfig.get_paths()["purelib"]) / "zz_connectord_test_probe.pth"
    pth.write_text(PTH.format(marker=str(marker)))
    try:
        yield marker
    finally:
        pth.unlink()


async def test_a_pth_file_of_the_environment_runs_in_no_process_that_imports_a_connector(
    hostile_on_path: None, pth_in_the_environment: Path
) -> None:
    """A ``.pth`` runs before any line of the program, unconfined: in a connector's zygote
    it read the server's environment and ``secret.key`` as root, before the zygote could
    hide them. Zygotes start without ``site``: no ``.pth`` file runs in them, nor in
    what they fork."""
    subprocess.run([sys.executable, "-c", "pass"], check=True)  # an interpreter with site
    assert len(list(pth_in_the_environment.iterdir())) == 1, "the .pth should run where site does"
    async with prober(hostile_on_path) as supervisor:
        assert await probe(supervisor, "dumpable") == "0"  # a zygote started, a worker ran
        assert await probe(supervisor, "dumpable", isolation="pooled") == "0"
        zygotes = {str(zygote.pid) for zygote in supervisor.zygotes}
    ran = {entry.name for entry in pth_in_the_environment.iterdir()}
    assert len(ran) == 1 and not ran & zygotes


@pytest.fixture
def connector_with_a_pth_in_the_environment() -> Iterator[str]:
    """A connector distribution installed into this environment's site-packages whose
    package also put a ``.pth`` file with an ``import`` line there (a harmless one)."""
    site_packages = Path(sysconfig.get_paths()["purelib"])
    module, dist_info = "zz_connectord_pth_connector", "zz_connectord_pth_connector-1.0.dist-info"
    made = [site_packages / f"{module}.py", site_packages / f"{module}.pth", site_packages / dist_info]
    made[0].write_text("raise SystemExit('imported: it must not be')\n")
    made[1].write_text("import sys\n")
    made[2].mkdir()
    (made[2] / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (made[2] / "entry_points.txt").write_text(f"[connectord.connectors]\npthconn = {module}\n")
    record = [f"{module}.py,,", f"{module}.pth,,", *(f"{dist_info}/{n},," for n in ("METADATA", "RECORD"))]
    (made[2] / "RECORD").write_text("\n".join([*record, f"{dist_info}/entry_points.txt,,"]) + "\n")
    try:
        yield module
    finally:
        made[0].unlink()
        made[1].unlink()
        shutil.rmtree(made[2])


async def test_a_connector_whose_package_put_a_pth_file_into_the_environment_is_refused(
    connector_with_a_pth_in_the_environment: str,
) -> None:
    """What the file does ran in the server already (site runs it at every start); the
    connector is refused, saying why, and no process imports it."""
    supervisor = Supervisor(Selection(allow=frozenset({"pthconn"})), SandboxPolicy(), Cgroups(None, None))
    await supervisor.start()
    try:
        [error] = supervisor.catalog.errors
        assert error.name == "pthconn" and "pthconn" not in supervisor.catalog.connectors
        assert error.reason.startswith(
            f"its distribution {connector_with_a_pth_in_the_environment} installed "
            f"{connector_with_a_pth_in_the_environment}.pth into the server's environment"
        )
        assert supervisor.zygotes == []
    finally:
        await supervisor.close()


SHADOW = (
    "import os; d = {marker!r}; "
    "os.path.isdir(d) and open(os.path.join(d, {name!r} + str(os.getpid())), 'w').close()\n"
)
SHADOWED = ("msgspec", "pluggy", "json")


@pytest.fixture
def connector_dir_with_shadows(tmp_path: Path, connector_site: Any) -> tuple[Path, Path]:
    """A directory as ``pip install --target`` makes it, holding a connector and, beside
    it, modules named like one of Python's and two of connectord's dependencies, each of
    which notes that it ran; and where they note it."""
    marker = tmp_path / "shadows-ran"
    marker.mkdir()
    marker.chmod(0o777)
    tmp_path.chmod(0o755)
    source = tmp_path / "shadowed.py"
    source.write_text(
        "import connectord\n\n@connectord.hookimpl\ndef describe_connector():\n"
        "    return connectord.ConnectorInfo(id='shadowed', title='Shadowed', version='1')\n\n"
        "@connectord.hookimpl\ndef verify_credentials(credentials):\n    return connectord.verified()\n"
    )
    site = Path(connector_site("shadowed", source, {"shadowed": "shadowed"}))
    for name in SHADOWED:
        package = site / name
        package.mkdir()
        (package / "__init__.py").write_text(SHADOW.format(marker=str(marker), name=name))
    return site, marker


@pytest.mark.parametrize("installed", ["PYTHONPATH", "CONNECTORD_CONNECTOR_PATH"])
async def test_a_module_beside_a_connector_stands_in_for_none_of_pythons_or_connectords(
    connector_dir_with_shadows: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, installed: str
) -> None:
    """The zygote imports Python's and connectord's modules as root before it confines
    itself: a ``msgspec/`` beside a connector, first on the import path, ran there and read
    ``secret.key``. Directories connectors are installed in come last, once confined."""
    site, marker = connector_dir_with_shadows
    selection = Selection(allow=frozenset({"shadowed"}))
    if installed == "PYTHONPATH":  # as the server has it: on its own path too
        monkeypatch.setenv("PYTHONPATH", str(site))
        monkeypatch.syspath_prepend(str(site))
    else:  # read for its entry points only: never on the server's path
        selection = Selection(allow=frozenset({"shadowed"}), paths=(str(site),))
    supervisor = Supervisor(selection, SandboxPolicy(), Cgroups(None, None))
    await supervisor.start()
    try:
        assert "shadowed" in supervisor.catalog.connectors, supervisor.catalog.errors
        for isolation in ("per-call", "pooled"):
            call = Call(connector="shadowed", method="verify_credentials")
            result = await run_in_sandbox(supervisor, call, isolation=isolation)  # type: ignore[arg-type]
            assert isinstance(result.outcome, Succeeded), result.outcome
    finally:
        await supervisor.close()
    assert sorted(entry.name for entry in marker.iterdir()) == []
