"""How a connector's zygote confines itself before the connector's first line runs.

Everything that imports connector code — the process that describes a connector, and the
connector's zygote, which every worker is forked from — is a process started by the
supervisor that runs this first, in this order:

1. a mount namespace of its own: the server's data directory and store hidden, kernel
   settings read-only, a fresh /tmp and /dev/shm (``isolation.enter_own_view``), and,
   for a connector with a user id of its own, a way for that user to what it must read
   (the interpreter beneath /root, mode 0700) with nothing else of what it passes; and an
   IPC namespace of its own (System V shared memory and the like end with it);
2. without network where the connector may have none (a network namespace of its own);
3. parent of whatever its descendants leave behind, so that it can kill them all;
4. no descriptor but its control socket (standard input and output on /dev/null: what
   import code prints reaches no log of the server's);
5. its own user and group (sandbox/user_ids.py), where it has one: the last step that
   needs root; a writable path that user may not write stops the server (``Unusable``);
6. Landlock: the connector's files (when ``limits.landlock``) and, where the kernel can
   (ABI 6), no signal to and no abstract socket of a process outside its domain: the
   server, other connectors' processes;
7. the seccomp filter (when ``limits.seccomp``);
8. no capability, and ``no_new_privs``: nothing it runs gains any.

Its workers inherit all of it and confine themselves further (sandbox/worker.py).
"""

from __future__ import annotations

import os
import stat
import sys

from connectord.plugins.server_errors import Invalid
from connectord.sandbox import isolation, landlock
from connectord.sandbox.protocol import Hello, Limits

#: A connector's /tmp and /dev/shm hold this many times its ``memory_bytes`` each: room for
#: a few calls' temporary files at once, while one call alone meets its memory limit first.
PRIVATE_DIR_LIMITS = 2


class Unusable(Invalid):
    """The configuration gives the connector a path its user cannot use."""


def enclose(hello: Hello, control_fd: int) -> None:
    """Confine this process as ``hello`` says; raises OSError naming what could not be
    had, Unusable naming a path of the configuration the connector's user cannot use."""
    code = [*hello.source.code_paths, *hello.connector_path]
    user = hello.user_id
    limits = hello.limits
    private = None if limits.memory_bytes is None else PRIVATE_DIR_LIMITS * limits.memory_bytes
    isolation.enter_own_view(
        limits.hidden_paths, [*visible_paths(limits), *code], user, private, limits.writable_paths
    )
    isolation.own_ipc_namespace()
    if not hello.limits.network:
        isolation.cut_network()
    isolation.adopt_orphans()
    isolation.keep_descriptors(control_fd)
    isolation.null_standard_streams()
    if user is not None:
        isolation.switch_user(user)
        _check_writable(hello.limits.writable_paths, user)
    confine_files(hello.limits, code)
    if hello.limits.seccomp:
        isolation.filter_syscalls(isolation.SyscallFilter(hello.syscall_filter))
    isolation.drop_capabilities()


def visible_paths(limits: Limits) -> list[str]:
    """What must stay visible beneath the emptied /tmp and /dev/shm: the interpreter, the
    import path (the connector's package) and the paths the configuration grants."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return [*prefixes, *(p for p in sys.path if p), *limits.readable_paths, *limits.writable_paths]


def _check_writable(paths: list[str], user: int) -> None:
    """Each of ``paths`` that exists, writable by us (and a directory passable) as the kernel
    sees it here: the operator's modes, owners and access lists, read-only mounts."""
    for path in paths:
        try:
            wanted = os.W_OK | (os.X_OK if stat.S_ISDIR(os.stat(path).st_mode) else 0)
        except FileNotFoundError:
            continue  # as without a user of its own: Landlock grants it nothing
        except OSError:
            wanted = os.W_OK  # a path it may not even look at: refused below
        if not os.access(path, wanted):
            raise Unusable(
                f"writable path {path} is not writable by the connector's user id {user} (give that "
                f"user write access, e.g. chown {user}:{user} {path}, or set [sandbox] user_ids = false)"
            )


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
