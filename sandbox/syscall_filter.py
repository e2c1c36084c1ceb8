"""The seccomp filter of ``limits.seccomp``: system calls a connector never needs, refused.

A deny list, not an allow list: Python, its C extensions and the libraries connectors use
make system calls no list could foresee, while the calls below serve only debuggers,
administrators and containers, and are where a kernel exploit usually starts. Each fails
with EPERM (a connector sees PermissionError) instead of killing the worker, so a library
that merely probes one goes on. The filter is compiled once by libseccomp (which knows each
architecture's numbers) through pyseccomp, and the worker only loads the bytes.
"""

from __future__ import annotations

import errno
import functools
import socket
import tempfile
from typing import Any

from connectord.plugins.server_errors import Internal

#: Refused with EPERM. Names this libseccomp does not know are skipped.
DENIED = (
    # another process's memory: tracing and its relatives
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "kcmp",
    # mounts and namespaces: a way around hidden paths and the network cut
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    # System V IPC: objects that outlive every process of the connector (in the namespace
    # of its zygote, sandbox/isolation.py) and are shared by all its workers, its tenants
    "shmget",
    "shmat",
    "shmctl",
    "shmdt",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "semget",
    "semop",
    "semtimedop",
    "semctl",
    "ipc",
    # the kernel's own attack surface
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "open_by_handle_at",
    "name_to_handle_at",
    # the machine's administration
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "syslog",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "vhangup",
    "lookup_dcookie",
    "uselib",
    "nfsservctl",
)

#: prlimit64(2) on a pid other than 0 (itself) is refused too: see ``compiled_filter``.

#: The socket families a connector may open: unix, IPv4, IPv6 and netlink (the addresses of
#: its interfaces). Any other fails with EAFNOSUPPORT, as where the kernel lacks it: AF_VSOCK
#: reaches the hypervisor's host from a virtual machine past a network namespace (on a
#: Firecracker VM, a connect() to the host's CID from a fresh namespace was answered by the
#: host), and packet, crypto (AF_ALG), TIPC, RDS and their like are kernel code no connector
#: needs.
SOCKET_FAMILIES = (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK)
#: Without network (``limits.network = false``), no unix socket either (EPERM) but a connected
#: stream or seqpacket pair (socketpair, as asyncio makes): a named socket of a host's service
#: anywhere in sight is no network a namespace cuts, nor a file Landlock (up to ABI 7)
#: governs, and a pair of any other type (datagram, or raw, which the kernel makes a datagram
#: for unix sockets) could still send to one (sendto with an address). IPv4 and IPv6 sockets stay:
#: the namespace has no interface up, and libraries probe them.

#: clone(2) flags that create namespaces, refused like unshare(2).
_NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)  # CLONE_NEWTIME exists for clone3 and unshare only (in clone, 0x80 is the exit signal)


#: A child of the caller's parent: out of reach of the zygote, which as the subreaper of its
#: processes ends what they leave behind (where there are no cgroups, nothing else would).
CLONE_PARENT = 0x00008000


class SeccompUnavailableError(Internal, RuntimeError):
    """libseccomp (or pyseccomp) cannot be loaded here."""


@functools.cache
def compiled_filter(network: bool = True) -> bytes:
    """The filter as a BPF program for this machine's architecture; without ``network``, it
    also refuses unix sockets but connected pairs."""
    try:
        import pyseccomp as seccomp
    except (ImportError, OSError, RuntimeError) as exc:
        raise SeccompUnavailableError(
            f"limits.seccomp needs libseccomp (package libseccomp2) and pyseccomp: {exc}"
        ) from None
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    # A system call of another ABI (int 0x80 on x86_64) would slip past the numbers below.
    rules.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
    refuse = seccomp.ERRNO(errno.EPERM)
    for name in DENIED:
        if seccomp.resolve_syscall(seccomp.system_arch(), name) < 0:
            continue  # not a system call of this architecture, or unknown to this libseccomp
        rules.add_rule(refuse, name)
    for flag in (*_NAMESPACE_FLAGS, CLONE_PARENT):
        rules.add_rule(refuse, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    # Another process's limits: a process without capabilities may lower those of any
    # process of its user (the kernel checks user ids only), and a worker set the server's
    # open-files limit to 3: it accepted no connection again. Its own (pid 0) stay its own.
    rules.add_rule(refuse, "prlimit64", seccomp.Arg(0, seccomp.NE, 0))
    # clone3 passes its flags in memory, out of a filter's sight: ENOSYS makes the C
    # library fall back to clone, whose flags are checked above.
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    _socket_rules(seccomp, rules, network)
    with tempfile.TemporaryFile() as out:
        rules.export_bpf(out)
        out.seek(0)
        return out.read()


def _socket_rules(seccomp: Any, rules: Any, network: bool) -> None:
    """Refuse the socket families not in SOCKET_FAMILIES (the rules of one call are ORed: one
    per family below the highest allowed, one for all above; a family with its upper bits
    set is above), and without ``network`` unix sockets and datagram pairs too."""
    unsupported = seccomp.ERRNO(errno.EAFNOSUPPORT)
    highest = max(SOCKET_FAMILIES)
    for call in ("socket", "socketpair"):
        rules.add_rule(unsupported, call, seccomp.Arg(0, seccomp.GT, highest))
        for family in range(highest):
            if family not in SOCKET_FAMILIES:
                rules.add_rule(unsupported, call, seccomp.Arg(0, seccomp.EQ, family))
    if not network:
        refuse = seccomp.ERRNO(errno.EPERM)
        rules.add_rule(refuse, "socket", seccomp.Arg(0, seccomp.EQ, socket.AF_UNIX))
        for kind in range(_SOCKET_TYPE_MASK + 1):  # for AF_UNIX the kernel makes SOCK_RAW a datagram
            if kind not in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET):
                typed = seccomp.Arg(1, seccomp.MASKED_EQ, _SOCKET_TYPE_MASK, kind)
                rules.add_rule(refuse, "socketpair", typed)


#: The type's bits of socket(2)'s second argument (the rest: SOCK_NONBLOCK, SOCK_CLOEXEC).
_SOCKET_TYPE_MASK = 0xF
