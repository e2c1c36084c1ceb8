"""How a connector's zygote confines itself before the connector's first line runs.

Everything that imports connector code — the process that describes a connector, and the
connector's zygote, which every worker is forked from — is a process started by the
supervisor that runs this first, in this order:

1. a mount namespace of its own: the server's data directory and store hidden, kernel
   settings read-only, a fresh /tmp and /dev/shm (``isolation.enter_own_view``);
2. without network where the connector may have none (a network namespace of its own);
3. parent of whatever its descendants leave behind, so that it can kill them all;
4. no descriptor but its control socket (standard input and output on /dev/null: what
   import code prints reaches no log of the server's);
5. Landlock: the connector's files (when ``limits.landlock``) and, where the kernel can
   (ABI 6), no signal to and no abstract socket of a process outside its domain: the
   server, other connectors' processes;
6. the seccomp filter (when ``limits.seccomp``);
7. no capability, and ``no_new_privs``: nothing it runs gains any.

Its workers inherit all of it and confine themselves further (sandbox/worker.py).
"""

from __future__ import annotations

import os
import sys

from connectord.sandbox import isolation, landlock
from connectord.sandbox.protocol import Hello, Limits

#: A connector's /tmp and /dev/shm hold this many times its ``memory_bytes`` each: room for
#: a few calls' temporary files at once, while one call alone meets its memory limit first.
PRIVATE_DIR_LIMITS = 2


def enclose(hello: Hello, control_fd: int) -> None:
    """Confine this process as ``hello`` says; raises OSError naming what could not be had."""
    code = hello.source.code_paths
    limits = hello.limits
    private = None if limits.memory_bytes is None else PRIVATE_DIR_LIMITS * limits.memory_bytes
    isolation.enter_own_view(limits.hidden_paths, [*visible_paths(limits), *code], private)
    if not hello.limits.network:
        isolation.cut_network()
    isolation.adopt_orphans()
    isolation.keep_descriptors(control_fd)
    isolation.null_standard_streams()
    confine_files(hello.limits, code)
    if hello.limits.seccomp:
        isolation.filter_syscalls(isolation.SyscallFilter(hello.syscall_filter))
    isolation.drop_capabilities()


def visible_paths(limits: Limits) -> list[str]:
    """What must stay visible beneath the emptied /tmp and /dev/shm: the interpreter, the
    import path (the connector's package) and the paths the configuration grants."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return [*prefixes, *(p for p in sys.path if p), *limits.readable_paths, *limits.writable_paths]


def confine_files(limits: Limits, code_paths: list[str]) -> None:
    """The zygote's Landlock domain: its workers' domains nest inside it (and can only
    narrow it: each gets write access to its own temporary directories alone)."""
    if not limits.landlock and landlock.scopes() == 0:
        return
    ruleset = landlock.new_ruleset(files=bool(limits.landlock))
    try:
        if limits.landlock:
            _grant_zygote_rules(ruleset, [*limits.readable_paths, *code_paths], limits.writable_paths)
    except OSError:
        os.close(ruleset)
        raise
    isolation.no_new_privileges()
    landlock.restrict_self(ruleset)


def _grant_zygote_rules(ruleset: int, readable: list[str], writable: list[str]) -> None:
    for path in (*isolation.system_paths(), *readable):
        landlock.grant(ruleset, path, landlock.READ)
    for path in isolation.DEVICES:
        landlock.grant(ruleset, path, landlock.DEVICE)
    # Every process's entry: its workers read their own (their domain allows only that).
    landlock.grant(ruleset, "/proc", landlock.READ)
    for path in (*writable, *isolation.PRIVATE_DIRS):
        landlock.grant(ruleset, path, landlock.WRITE)
