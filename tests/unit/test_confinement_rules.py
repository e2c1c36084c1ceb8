"""How the optional confinements are built: Landlock's rights per ABI version, what a
confined worker may read by default, and the compiled seccomp filter."""

from __future__ import annotations

import os
import sys

import pytest

from connectord.sandbox import isolation, landlock, syscall_filter
from connectord.sandbox.host import Host, SandboxUnavailableError
from connectord.sandbox.policy import ConnectorPolicy, SandboxPolicy
from connectord.sandbox.protocol import Limits
from connectord.sandbox.supervisor import Supervisor


def test_landlock_handles_only_the_rights_the_kernel_knows() -> None:
    assert landlock.handled_rights(1) == (1 << 13) - 1
    assert landlock.handled_rights(2) & landlock.REFER
    assert not landlock.handled_rights(2) & landlock.TRUNCATE
    assert landlock.handled_rights(3) & landlock.TRUNCATE
    assert not landlock.handled_rights(4) & landlock.IOCTL_DEV
    assert landlock.handled_rights(5) & landlock.IOCTL_DEV
    assert landlock.READ & landlock.WRITE_FILE == 0


def test_a_confined_worker_may_read_every_loaded_module_and_the_interpreter() -> None:
    paths = isolation.system_paths()

    def covered(path: str) -> bool:
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in paths)

    assert covered(sys.base_prefix) and covered(sys.prefix)
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str):
            assert covered(os.path.dirname(os.path.realpath(file))), module
    # none is beneath another (it would add a rule and nothing else)
    assert not any(a != b and a.startswith(b.rstrip("/") + "/") for a in paths for b in paths)
    assert "/etc/shadow" not in paths and not covered("/etc/shadow")


def test_the_seccomp_filter_compiles_to_bpf() -> None:
    program = syscall_filter.compiled_filter()
    assert program and len(program) % 8 == 0  # one 8-byte sock_filter per instruction


def test_without_libseccomp_a_supervisor_asking_for_seccomp_does_not_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pyseccomp", None)  # as if it were not installed
    syscall_filter.compiled_filter.cache_clear()
    try:
        with pytest.raises(syscall_filter.SeccompUnavailableError, match="libseccomp2"):
            syscall_filter.compiled_filter()
        policy = SandboxPolicy(connectors={"sql": ConnectorPolicy(limits=Limits(seccomp=True))})
        asked = r"'sql' asks for seccomp: limits\.seccomp needs libseccomp"
        with pytest.raises(SandboxUnavailableError, match=asked):
            Supervisor(policy=policy)
        # where it is not asked for, the default goes without it (and says so at start)
        assert Supervisor().policy.default.limits.seccomp is False
    finally:
        syscall_filter.compiled_filter.cache_clear()


def test_paths_must_be_absolute() -> None:
    with pytest.raises(ValueError, match="hidden_paths must be absolute paths, not 'data'"):
        Limits(hidden_paths=["data"])
    assert Limits(writable_paths=["/srv/data"]).writable_paths == ["/srv/data"]


def test_a_protection_asked_for_that_the_host_lacks_stops_the_start() -> None:
    policy = SandboxPolicy(default=ConnectorPolicy(limits=Limits(landlock=True)))
    with pytest.raises(SandboxUnavailableError, match="asks for landlock, but this kernel has no Landlock"):
        Host(landlock_abi=0, seccomp_missing=None).resolve(policy)
    resolved = Host(landlock_abi=0, seccomp_missing="no libseccomp").resolve(SandboxPolicy())
    assert (resolved.default.limits.landlock, resolved.default.limits.seccomp) == (False, False)
    resolved = Host(landlock_abi=6, seccomp_missing=None).resolve(SandboxPolicy())
    assert (resolved.default.limits.landlock, resolved.default.limits.seccomp) == (True, True)
