"""The console's sessions: fresh ids and tokens, idle and absolute expiry, sign-out."""

from __future__ import annotations

from dataclasses import dataclass

from connectord.api.console.sessions import IDLE_SECONDS, MAX_SECONDS, Sessions


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
