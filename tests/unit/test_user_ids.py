"""A user id per connector: the range it comes from, how each connector's is chosen, and
when the host gives them (sandbox/user_ids.py, sandbox/host.py)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from connectord.sandbox.host import Host, SandboxUnavailableError
from connectord.sandbox.policy import SandboxPolicy
from connectord.sandbox.user_ids import (
    DEFAULT,
    IdRange,
    IdRecord,
    RangeExhaustedError,
    UserIds,
    assign,
    mapped,
    own_slot,
    parse_range,
    subordinate_range,
)

ALL_IDS = "         0          0 4294967295\n"  # the initial user namespace maps every id


def test_a_range_is_start_dash_end_without_ids_no_connector_may_have() -> None:
    assert parse_range("200000-265535") == IdRange(200000, 265535)
    assert parse_range("200000-265535").size == 65536
    for bad, reason in [
        ("auto-", 'user_ids must be "auto", true, false or a range "START-END"'),
        ("5-", "a range"),
        ("10-5", "ends before it starts"),
        ("0-100", "holds ids no connector may have: 0"),
        ("60000-70000", "holds ids no connector may have: 65534, 65535"),
        ("4294967000-4294967295", "goes past 4294967294"),
    ]:
        with pytest.raises(ValueError, match=reason):
            parse_range(bad)
    assert str(DEFAULT) == "1879048192-1879113727"


def test_roots_subordinate_range_counts_only_when_both_files_give_the_same() -> None:
    subuid = "alice:100000:65536\nroot:300000:65536\n"
    assert subordinate_range(subuid, "root:300000:65536\n") == IdRange(300000, 365535)
    assert subordinate_range("0:300000:1000\n", "0:300000:1000\n") == IdRange(300000, 300999)
    assert subordinate_range(subuid, "root:400000:65536\n") is None  # ids differ: gid = uid would not hold
    assert subordinate_range("alice:100000:65536\n", "alice:100000:65536\n") is None
    assert subordinate_range("", "") is None
    assert subordinate_range("root:0:65536\n", "root:0:65536\n") is None  # holds root itself


def test_the_ids_must_exist_in_this_user_namespace() -> None:
    assert mapped(ALL_IDS, DEFAULT)
    container = "0 100000 65536\n"
    assert mapped(container, IdRange(1000, 2000))
    assert not mapped(container, IdRange(60000, 70000))
    assert not mapped("", IdRange(1000, 2000))


def test_a_connectors_id_is_its_hash_whatever_else_is_installed() -> None:
    alone = assign(["sql"], DEFAULT, {})
    with_others = assign(["shop", "sql", "webservice", "acme"], DEFAULT, {})
    assert alone["sql"] == with_others["sql"] == own_slot("sql", DEFAULT)
    assert len(set(with_others.values())) == 4
    assert all(uid in DEFAULT for uid in with_others.values())
    assert assign(["webservice", "shop"], DEFAULT, {}) == assign(["shop", "webservice"], DEFAULT, {})


def test_a_collision_goes_to_the_later_name_and_never_moves_an_id_given() -> None:
    ids = IdRange(5000, 5015)
    first, second = _colliding(ids)
    both = assign([second, first], ids, {})
    assert both[first] == own_slot(first, ids)
    assert both[second] == (both[first] + 1 - ids.first) % ids.size + ids.first
    # given while the server runs, an id stays: a newcomer takes the next free one
    later = assign([first], ids, {second: own_slot(first, ids)})
    assert later[second] == own_slot(first, ids) and later[first] != later[second]
    users = UserIds(ids)
    users.assign([first, second])
    assert users.displaced() == [(second, both[second], first)]


def test_an_id_once_given_is_kept_at_every_later_start_whatever_is_installed(tmp_path: Path) -> None:
    """A name found to hash onto an installed connector's id, and to sort before it, took
    that id at the next start (and with it what the operator gave the other connector)."""
    ids = IdRange(5000, 5015)
    first, second = _colliding(ids)  # first sorts before second, both hash to one slot
    record = tmp_path / "user-ids.json"
    victim = UserIds(ids, IdRecord(record))
    victim.assign([second])  # installed first: its own slot
    assert victim.of(second) == own_slot(second, ids)
    restarted = UserIds(ids, IdRecord(record))  # the next start, the newcomer installed
    restarted.assign([first, second])
    assert restarted.of(second) == own_slot(second, ids)
    assert restarted.of(first) != restarted.of(second)
    assert restarted.displaced() == [(first, restarted.of(first), second)]
    assert json.loads(record.read_text()) == {first: restarted.of(first), second: restarted.of(second)}
    assert record.stat().st_mode & 0o777 == 0o600
    # without the record, the name order decided at every start, and the newcomer won
    assert assign([first, second], ids, {})[first] == own_slot(second, ids)


def test_what_of_a_record_cannot_be_used_is_left_out(tmp_path: Path) -> None:
    record = tmp_path / "user-ids.json"
    twice = DEFAULT.first + 3
    for text in ("not json", "[1, 2]", json.dumps({"a": "5001", "b": 0, "c": 99, "d": twice, "e": twice})):
        record.write_text(text)
        users = UserIds(DEFAULT, IdRecord(record))
        users.assign(["x"])
        assert users.of("x") == own_slot("x", DEFAULT)
    assert users.of("d") == twice  # "e" had the same id: the first name keeps it
    assert users.of("e") not in (twice, 0)


def test_more_connectors_than_ids_is_refused() -> None:
    with pytest.raises(RangeExhaustedError, match="has 2 ids, too few"):
        assign(["a", "b", "c"], IdRange(5000, 5001), {})


def test_user_ids_are_on_wherever_the_server_may_switch_users() -> None:
    root = Host(6, None, users_missing=None, uid_map=ALL_IDS, gid_map=ALL_IDS)
    assert root.resolve(SandboxPolicy()).user_ids == str(DEFAULT)
    assert root.resolve(SandboxPolicy(user_ids=True)).user_ids == str(DEFAULT)
    assert root.resolve(SandboxPolicy(user_ids="300000-300099")).user_ids == "300000-300099"
    assert root.resolve(SandboxPolicy(user_ids=False)).user_ids is False
    subordinate = Host(6, None, None, IdRange(300000, 365535), ALL_IDS, ALL_IDS)
    assert subordinate.resolve(SandboxPolicy()).user_ids == "300000-365535"
    line = root.describe(root.resolve(SandboxPolicy()), "v2")
    assert line.endswith("user ids: one per connector (1879048192-1879113727)")
    assert root.describe(root.resolve(SandboxPolicy(user_ids=False)), "v2").endswith("user ids: off")


def test_user_ids_asked_for_where_they_cannot_be_had_stop_the_start() -> None:
    not_root = Host(6, None, users_missing="the server is not root", uid_map=ALL_IDS, gid_map=ALL_IDS)
    resolved = not_root.resolve(SandboxPolicy())
    assert resolved.user_ids is False  # "auto": off, and the start-up line says why
    assert not_root.describe(resolved, "v2").endswith("user ids: none (the server is not root)")
    for asked in (True, "300000-300099"):
        with pytest.raises(SandboxUnavailableError, match=r"user id per connector \(user_ids = .*not root"):
            not_root.resolve(SandboxPolicy(user_ids=asked))
    container = Host(6, None, None, uid_map="0 100000 65536\n", gid_map="0 100000 65536\n")
    assert container.resolve(SandboxPolicy()).user_ids is False
    with pytest.raises(SandboxUnavailableError, match="not all mapped in this user namespace"):
        container.resolve(SandboxPolicy(user_ids="70000-70010"))
    assert container.resolve(SandboxPolicy(user_ids="1000-1999")).user_ids == "1000-1999"


def _colliding(ids: IdRange) -> tuple[str, str]:
    """Two names, in sorted order, whose own slots in ``ids`` are the same."""
    seen: dict[int, str] = {}
    for number in itertools.count():
        name = f"connector{number}"
        slot = own_slot(name, ids)
        if slot in seen:
            first, second = sorted((seen[slot], name))
            return first, second
        seen[slot] = name
    raise AssertionError("unreachable")
