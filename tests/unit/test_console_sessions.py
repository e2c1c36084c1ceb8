"""The console's sessions: fresh ids and tokens, idle and absolute expiry, sign-out."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from connectord.api.console import sessions as sessions_module
from connectord.api.console.sessions import (
    IDLE_SECONDS,
    MAX_SECONDS,
    MAX_SESSIONS_PER_USER,
    Sessions,
    TooManySessions,
)


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_sign_in_gets_its_own_unguessable_id_and_csrf_token() -> None:
    sessions = Sessions(Clock())
    first, second = sessions.open("hash", "a@example.com"), sessions.open("hash", "a@example.com")
    assert first.id != second.id and first.csrf != second.csrf
    assert len(first.id) >= 40 and first.csrf not in first.id
    assert first.csrf_matches(first.csrf)
    assert not first.csrf_matches(second.csrf) and not first.csrf_matches(None) and not first.csrf_matches("")


def test_a_session_ends_after_its_idle_time_and_a_request_restarts_that_time() -> None:
    clock = Clock()
    sessions = Sessions(clock)
    session = sessions.open("hash", "a@example.com")
    clock.now += IDLE_SECONDS - 1
    assert sessions.get(session.id) is session  # used: idle time starts again
    clock.now += IDLE_SECONDS - 1
    assert sessions.get(session.id) is session
    clock.now += IDLE_SECONDS + 1
    assert sessions.get(session.id) is None
    assert len(sessions) == 0


def test_a_session_in_use_still_ends_at_its_maximum_age() -> None:
    clock = Clock()
    sessions = Sessions(clock)
    session = sessions.open("hash", "a@example.com")
    while clock.now + IDLE_SECONDS / 2 < 1000.0 + MAX_SECONDS:
        clock.now += IDLE_SECONDS / 2
        assert sessions.get(session.id) is session
    clock.now += IDLE_SECONDS / 2 + 1  # past the maximum age, well within the idle time
    assert sessions.get(session.id) is None


def test_signing_out_forgets_the_session_and_unknown_ids_find_nothing() -> None:
    sessions = Sessions(Clock())
    session = sessions.open("hash", "a@example.com")
    sessions.close(session.id)
    assert sessions.get(session.id) is None
    assert sessions.get("") is None and sessions.get(None) is None and sessions.get("nope") is None


def test_a_user_signing_in_again_and_again_ends_only_their_own_oldest_sessions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another tenant's sign-ins, however many, never end this user's session."""
    monkeypatch.setattr(sessions_module, "MAX_SESSIONS", 100)
    clock = Clock()
    sessions = Sessions(clock)
    alice = sessions.open("hash-a", "alice@acme.test")
    bobs = [sessions.open("hash-b", "bob@globex.test") for _ in range(250)]
    assert sessions.get(alice.id) is alice
    assert sessions.held_by("bob@globex.test") == MAX_SESSIONS_PER_USER
    assert [sessions.get(b.id) for b in bobs[-MAX_SESSIONS_PER_USER:]] == bobs[-MAX_SESSIONS_PER_USER:]
    assert sessions.get(bobs[-MAX_SESSIONS_PER_USER - 1].id) is None  # his oldest went
    assert len(sessions) == MAX_SESSIONS_PER_USER + 1
    assert sessions.held_by("BOB@globex.test") == MAX_SESSIONS_PER_USER  # emails without case
    # a session closed or ended frees its place: the next sign-in ends none of the others
    sessions.close(bobs[-1].id)
    again = sessions.open("hash-b", "bob@globex.test")
    assert sessions.get(bobs[-MAX_SESSIONS_PER_USER].id) is not None and sessions.get(again.id) is again
    clock.now += IDLE_SECONDS + 1
    assert sessions.get(alice.id) is None and sessions.held_by("alice@acme.test") == 0
    sessions.open("hash-b", "bob@globex.test")
    assert len(sessions) == 1 and sessions.held_by("bob@globex.test") == 1


def test_on_a_full_node_the_user_holding_the_most_sessions_loses_their_oldest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sessions_module, "MAX_SESSIONS", 10)
    sessions = Sessions(Clock())
    singles = [sessions.open(f"h{n}", f"user{n}@acme.test") for n in range(4)]
    many = [sessions.open("hash-b", "bob@globex.test") for _ in range(6)]
    assert len(sessions) == 10
    newcomer = sessions.open("hash-c", "carol@acme.test")
    assert len(sessions) == 10
    assert all(sessions.get(s.id) is s for s in singles)  # the oldest sessions of the node
    assert sessions.get(many[0].id) is None and sessions.get(many[1].id) is many[1]
    assert sessions.get(newcomer.id) is newcomer


def test_a_full_node_of_only_sessions_refuses_a_new_user_but_not_a_user_signing_in_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sessions_module, "MAX_SESSIONS", 3)
    clock = Clock()
    sessions = Sessions(clock)
    held = [sessions.open(f"h{n}", f"user{n}@acme.test") for n in range(3)]
    with pytest.raises(TooManySessions):
        sessions.open("hash-c", "carol@acme.test")
    assert all(sessions.get(s.id) is s for s in held)
    again = sessions.open("h1", "user1@acme.test")  # ends their own only session, no other
    assert sessions.get(held[1].id) is None and sessions.get(again.id) is again
    assert sessions.get(held[0].id) is held[0] and sessions.get(held[2].id) is held[2]
    clock.now += IDLE_SECONDS + 1  # ended sessions make room
    assert sessions.get(sessions.open("hash-c", "carol@acme.test").id) is not None
    assert len(sessions) == 1
