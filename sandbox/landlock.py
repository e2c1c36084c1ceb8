"""Landlock (Linux 5.13+): which files a process may still open, enforced by the kernel.

A ruleset lists directories (and files) with the rights granted beneath each; once a
process restricts itself to it, every other open, listing, creation or removal fails with
EACCES, for it and for everything it starts, root included. It needs no privilege and no
namespace. Only the kernel's system calls exist for it (no C library wraps them), so they
are called here through ``syscall(2)``.
"""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import Iterable

# The same numbers on every architecture (the generic system call table).
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
READ = EXECUTE | READ_FILE | READ_DIR
#: Every right the kernel knows, creating and removing included.
EVERYTHING = (1 << 64) - 1
#: For devices such as /dev/null: read, write and their ioctls.
DEVICE = READ_FILE | WRITE_FILE | IOCTL_DEV
#: The rights that apply to a file; the kernel refuses a rule granting directory rights on one.
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV


class _RulesetAttr(ctypes.Structure):
    # Only the first field: every ABI version accepts this size.
    _fields_ = [("handled_access_fs", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 where Landlock is missing or disabled."""
    version = _syscall(_SYS_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    return max(0, version)


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


def ruleset(grants: Iterable[tuple[str, int]]) -> int:
    """A ruleset (its descriptor) granting each ``(path, rights)`` beneath ``path``; a
    path that does not exist grants nothing. Raises OSError without Landlock."""
    abi = abi_version()
    if abi < 1:
        raise OSError(0, "cannot restrict files: this kernel has no Landlock (Linux 5.13+, enabled)")
    handled = handled_rights(abi)
    attr = _RulesetAttr(handled)
    fd = _syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0)
    if fd < 0:
        raise _error("landlock_create_ruleset")
    try:
        for path, rights in grants:
            _grant(fd, path, rights & handled)
    except BaseException:
        os.close(fd)
        raise
    return fd


def restrict_self(ruleset_fd: int) -> None:
    """Enforce the ruleset on this process (needs no_new_privs, set by the caller)."""
    try:
        if _syscall(_SYS_RESTRICT_SELF, ruleset_fd, 0) != 0:
            raise _error("landlock_restrict_self")
    finally:
        os.close(ruleset_fd)


def _grant(ruleset_fd: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _FILE_RIGHTS
        rule = _PathBeneathAttr(rights, fd)
        if _syscall(_SYS_ADD_RULE, ruleset_fd, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
            raise _error(f"landlock_add_rule on {path}")
    finally:
        os.close(fd)


def _syscall(number: int, *args: object) -> int:
    # Every argument as a full register: syscall(2) reads each one as a long.
    wide = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    return int(_libc.syscall(ctypes.c_long(number), *wide))


def _error(call: str) -> OSError:
    errno = ctypes.get_errno()
    return OSError(errno, f"cannot restrict files ({call}: {os.strerror(errno)})")
