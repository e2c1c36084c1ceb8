"""A user id of its own for each connector, as mobile systems give each app one.

Where the server runs as root, every process of a connector (the one describing it, its
zygote, its workers) runs as that connector's user and group (the same number), with no
supplementary group: the kernel then refuses it signals to, tracing of and
``/proc/PID/mem`` of any other connector's processes and of the server, and the server's
0600 files, whatever Landlock the kernel has.

Ids come from a range: root's subordinate range where /etc/subuid and /etc/subgid give
root the same one, else ``DEFAULT``, or the range the configuration names. A connector's
id is its id's hash within the range, so that an operator can know it before its first
start; once given, it is recorded (``IdRecord``, in the data directory) and kept for good,
whatever is installed later, so that the operator gives it what it may write once. A
connector whose hash falls on an id already given takes the next free one (and logs it):
a connector installed later cannot take an id another has (with 65,536 slots, a name that
hashed onto ``sql``'s was found among 100,000 tries, and sorted before it, took it at the
next start, and with it what ``sql`` owned). Connectors first seen at the same start are
given theirs in name order.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from connectord.plugins.server_errors import Invalid

#: Ids no connector may get: root, the overflow user ("nobody") and its 16-bit twin, and
#: (uid_t) -1, which set*id() reads as "unchanged".
RESERVED = (0, 65534, 65535, 2**32 - 1)


@dataclass(frozen=True)
class IdRange:
    first: int
    last: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, other: object) -> bool:
        if isinstance(other, IdRange):
            return self.first <= other.first and other.last <= self.last
        return isinstance(other, int) and self.first <= other <= self.last

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


#: The default range: 65,536 ids from 0x70000000, where systemd's table of id ranges
#: (systemd.io/UIDS-GIDS) has nothing assigned: above the container ranges of
#: systemd-nspawn, below the "foreign" range and the ids that read negative as signed.
DEFAULT = IdRange(0x70000000, 0x70000000 + 0xFFFF)


def parse_range(text: str) -> IdRange:
    """``"START-END"`` as an IdRange; ValueError saying what is wrong."""
    start, dash, end = text.partition("-")
    if not dash or not start.strip().isdigit() or not end.strip().isdigit():
        raise ValueError(f'user_ids must be "auto", true, false or a range "START-END", not {text!r}')
    ids = IdRange(int(start), int(end))
    if ids.last < ids.first:
        raise ValueError(f"user_ids range {text!r} ends before it starts")
    if ids.last >= 2**32 - 1:
        raise ValueError(f"user_ids range {text!r} goes past 4294967294, the highest user id")
    reserved = [str(uid) for uid in RESERVED if uid in ids]
    if reserved:
        raise ValueError(f"user_ids range {text!r} holds ids no connector may have: {', '.join(reserved)}")
    return ids


def subordinate_range(subuid: str, subgid: str, user: str = "root", uid: int = 0) -> IdRange | None:
    """The range both files (/etc/subuid and /etc/subgid, as text) give ``user`` first,
    when it is the same in both and holds no reserved id; else None."""
    found = [_first_entry(text, (user, str(uid))) for text in (subuid, subgid)]
    if found[0] is None or found[0] != found[1]:
        return None
    try:
        return parse_range(found[0])
    except ValueError:
        return None


def _first_entry(text: str, names: tuple[str, ...]) -> str | None:
    for line in text.splitlines():
        fields = line.strip().split(":")
        if len(fields) == 3 and fields[0] in names and fields[1].isdigit() and fields[2].isdigit():
            start, count = int(fields[1]), int(fields[2])
            if count > 0:
                return f"{start}-{start + count - 1}"
    return None


def mapped(id_map: str, ids: IdRange) -> bool:
    """Whether one line of a /proc/PID/uid_map or gid_map (as text) maps all of ``ids``:
    a user namespace maps only some ids, and no process in it can become another."""
    for line in id_map.splitlines():
        fields = line.split()
        if len(fields) == 3 and all(field.isdigit() for field in fields):
            inside, count = int(fields[0]), int(fields[2])
            if count and ids in IdRange(inside, inside + count - 1):
                return True
    return False


class RangeExhaustedError(Invalid, ValueError):
    """More connectors than ids in the range."""


def own_slot(name: str, ids: IdRange) -> int:
    """The id ``name`` gets unless another connector's hash took it first."""
    digest = hashlib.sha256(name.encode()).digest()
    return ids.first + int.from_bytes(digest[:8], "big") % ids.size


def assign(names: Iterable[str], ids: IdRange, taken: Mapping[str, int]) -> dict[str, int]:
    """``taken`` with each of ``names`` not in it given an id of ``ids``: its own slot,
    or the next free id after it (wrapping around), names in sorted order."""
    assigned = dict(taken)
    used = set(assigned.values())
    for name in sorted(set(names) - assigned.keys()):
        if len(used) >= ids.size:
            too_few = f"user_ids range {ids} has {ids.size} ids, too few for connector '{name}'"
            raise RangeExhaustedError(too_few)
        uid = own_slot(name, ids)
        while uid in used:
            uid = ids.first if uid == ids.last else uid + 1
        assigned[name] = uid
        used.add(uid)
    return assigned


#: The record's file in the server's data directory (hidden from connectors, as all of it).
RECORD_FILE = "user-ids.json"


def record_in(data_dir: Path) -> Path | None:
    """The record of ``data_dir`` where that directory exists (a command run elsewhere, with
    none, gives ids for its own run only)."""
    return data_dir / RECORD_FILE if data_dir.is_dir() else None


class IdRecord:
    """The ids given so far, in a file (JSON: connector id to user id) that every process of
    the server's data directory shares, read and written under a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, int]]:
        """The ids recorded (those of ``ids`` only, each given once); what the block leaves
        in the dict is written back."""
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            given = self._read()
            before = dict(given)
            yield given
            if given != before:
                self._write(given)

    def _read(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and type(v) is int}

    def _write(self, given: dict[str, int]) -> None:
        partial = self.path.with_name(self.path.name + ".new")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(given, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, self.path)


class UserIds:
    """Each connector's id, given once and kept for good where ``record`` keeps them (else
    while the server runs; also for a connector uninstalled since: one installed again gets
    its id back)."""

    def __init__(self, ids: IdRange, record: IdRecord | None = None) -> None:
        self.ids = ids
        self.record = record
        self._of: dict[str, int] = {}

    def assign(self, names: Iterable[str]) -> None:
        if self.record is None:
            self._of = assign(names, self.ids, self._of)
            return
        with self.record.locked() as given:
            kept = _usable(given, self.ids)
            kept.update({name: uid for name, uid in self._of.items() if name not in kept})
            self._of = assign(names, self.ids, _usable(kept, self.ids))
            given.update(self._of)

    def of(self, name: str) -> int:
        if name not in self._of:
            self.assign([name])
        return self._of[name]

    def displaced(self) -> list[tuple[str, int, str]]:
        """Each connector whose own slot another one had: its name, its id, the other one."""
        holders = {uid: name for name, uid in self._of.items()}
        found = []
        for name, uid in sorted(self._of.items()):
            holder = holders.get(own_slot(name, self.ids), name)
            if holder != name:
                found.append((name, uid, holder))
        return found


def _usable(given: Mapping[str, int], ids: IdRange) -> dict[str, int]:
    """Those of ``given`` in ``ids``, none reserved, each id once (the first name, sorted)."""
    usable: dict[str, int] = {}
    seen: set[int] = set()
    for name, uid in sorted(given.items()):
        if uid in ids and uid not in RESERVED and uid not in seen:
            usable[name] = uid
            seen.add(uid)
    return usable
