"""Landlock (Linux 5.13+): which files a process may still open, enforced by the kernel.

A ruleset lists directories (and files) with the rights granted beneath each; once a
process restricts itself to it, every other open, listing, creation or removal fails with
EACCES, for it and for everything it starts, root included. It needs no privilege and no
namespace. Only the kernel's system calls exist for it (no C library wraps them), so they
are called here through ``syscall(2)``.
"""

from __future__ import annotations

import ctypes
import functools
import os
import stat

# The same numbers on every architecture (the generic system call table).
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
READ = EXECUTE | READ_FILE | READ_DIR
MAKE_CHAR, MAKE_BLOCK = 1 << 6, 1 << 11
#: Beneath a writable path: everything but making device nodes and their ioctls.
WRITE = ((1 << 64) - 1) & ~(MAKE_CHAR | MAKE_BLOCK | IOCTL_DEV)
#: For devices such as /dev/null: read, write and their ioctls.
DEVICE = READ_FILE | WRITE_FILE | IOCTL_DEV
#: The rights that apply to a file; the kernel refuses a rule granting directory rights on one.
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV


#: ABI 6: no connecting to an abstract unix socket, nor signalling a process, that was
#: made or runs outside the worker's own Landlock domain (another tenant's worker, the zygote).
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    # Only the first field: every ABI version accepts this size.
    _fields_ = [("handled_access_fs", ctypes.c_uint64)]


class _ScopedRulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
# The arguments a zygote and its workers pass on every call, built once: each Python
# object made after a fork costs the pages it touches, copied on write.
_CREATE_RULESET = ctypes.c_long(_SYS_CREATE_RULESET)
_ADD_RULE = ctypes.c_long(_SYS_ADD_RULE)
_RESTRICT_SELF = ctypes.c_long(_SYS_RESTRICT_SELF)
_PATH_BENEATH = ctypes.c_long(_RULE_PATH_BENEATH)
_NO_FLAGS = ctypes.c_long(0)
#: What the cached arguments point to.
_kept: list[ctypes.Structure] = []


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 where Landlock is missing or disabled."""
    version = _syscall(_SYS_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    return max(0, version)


@functools.cache
def _abi() -> int:
    return abi_version()


def handled_rights(abi: int) -> int:
    """Every file right this ABI version knows: all of them are denied but where granted."""
    rights = (1 << 13) - 1  # version 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


@functools.cache
def _handled() -> int:
    abi = _abi()
    if abi < 1:
        raise OSError(0, "cannot restrict files: this kernel has no Landlock (Linux 5.13+, enabled)")
    return handled_rights(abi)


def scopes() -> int:
    """The scopes this kernel enforces (ABI 6), 0 where it has none."""
    return SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if _abi() >= 6 else 0


def new_ruleset(files: bool = True) -> int:
    """An empty ruleset (its descriptor): denying every file right the kernel knows (with
    ``files``), and where it can (ABI 6) the scopes above. Raises OSError where the
    kernel has neither to offer."""
    attr, size = _ruleset_attr(files)
    fd = int(_libc.syscall(_CREATE_RULESET, attr, size, _NO_FLAGS))
    if fd < 0:
        raise _error("landlock_create_ruleset")
    return fd


@functools.cache
def _ruleset_attr(files: bool) -> tuple[object, ctypes.c_long]:
    """The arguments of ``new_ruleset``, built once: the zygote makes a ruleset per worker."""
    handled = _handled() if files else 0
    if scopes():
        attr: ctypes.Structure = _ScopedRulesetAttr(handled, 0, scopes())
    elif files:
        attr = _RulesetAttr(handled)
    else:
        raise OSError(0, "cannot scope signals: this kernel's Landlock is older than ABI 6")
    _kept.append(attr)
    return ctypes.byref(attr), ctypes.c_long(ctypes.sizeof(attr))


def open_beneath(path: str, rights: int) -> tuple[int, int] | None:
    """``path`` opened for a rule (O_PATH) with the ``rights`` that apply to what it is;
    None where it does not exist."""
    handled = _handled()  # first: without Landlock, nothing is opened
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _FILE_RIGHTS
    except OSError:
        os.close(fd)
        raise
    return fd, rights & handled


def grant_opened(ruleset_fd: int, opened: tuple[int, int]) -> None:
    """Add a rule for a path from ``open_beneath`` (its descriptor stays open)."""
    path_fd, rights = opened
    rule = _PathBeneathAttr(rights, path_fd)
    if _syscall(_SYS_ADD_RULE, ruleset_fd, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
        raise _error("landlock_add_rule")


class Rule:
    """A rule for a path opened once (``open_beneath``), added to many rulesets: its
    arguments are built once, so that adding it makes no Python object (the zygote adds
    its system paths to every worker's ruleset; each page it writes after a fork is copied)."""

    def __init__(self, opened: tuple[int, int]) -> None:
        self.fd = opened[0]
        self._attr = _PathBeneathAttr(opened[1], opened[0])
        self.argument = ctypes.byref(self._attr)


def add_rules(ruleset_fd: int, rules: list[Rule]) -> None:
    """Add ``rules`` (their descriptors stay open)."""
    ruleset = ctypes.c_long(ruleset_fd)
    for rule in rules:
        if _libc.syscall(_ADD_RULE, ruleset, _PATH_BENEATH, rule.argument, _NO_FLAGS) != 0:
            raise _error("landlock_add_rule")


def grant(ruleset_fd: int, path: str, rights: int) -> None:
    """Grant ``rights`` beneath ``path``; a path that does not exist grants nothing."""
    opened = open_beneath(path, rights)
    if opened is None:
        return
    try:
        grant_opened(ruleset_fd, opened)
    finally:
        os.close(opened[0])


def grant_directory(ruleset_fd: int, path: str, rights: int) -> None:
    """Grant ``rights`` beneath the directory ``path`` (OSError where it is none): ``grant``
    for a directory known to be one, as the zygote's and workers' own (fewer calls)."""
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC | os.O_DIRECTORY)
    try:
        rule = _PathBeneathAttr(rights & _handled(), fd)
        if _libc.syscall(_ADD_RULE, ctypes.c_long(ruleset_fd), _PATH_BENEATH, ctypes.byref(rule), _NO_FLAGS):
            raise _error("landlock_add_rule")
    finally:
        os.close(fd)


def restrict_self(ruleset_fd: int) -> None:
    """Enforce the ruleset on this process (needs no_new_privs, set by the caller)."""
    try:
        if _libc.syscall(_RESTRICT_SELF, ctypes.c_long(ruleset_fd), _NO_FLAGS) != 0:
            raise _error("landlock_restrict_self")
    finally:
        os.close(ruleset_fd)


def _syscall(number: int, *args: object) -> int:
    # Every argument as a full register: syscall(2) reads each one as a long.
    wide = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    return int(_libc.syscall(ctypes.c_long(number), *wide))


def _error(call: str) -> OSError:
    errno = ctypes.get_errno()
    return OSError(errno, f"cannot restrict files ({call}: {os.strerror(errno)})")
