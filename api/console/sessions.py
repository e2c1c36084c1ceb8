"""The console's sign-in sessions: kept in this process's memory, never in the browser.

A session holds the hash of the API key it was opened with (never the key), so every request
looks the principal up again: a revoked key ends its sessions at once. A session ends after
``IDLE_SECONDS`` without a request or ``MAX_SECONDS`` after sign-in, whichever comes first.
Sessions live in one node's memory: behind a load balancer, pin a console user to a node (or
sign in again after a restart); the JSON API itself is stateless and unaffected.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

IDLE_SECONDS = 3600.0
MAX_SECONDS = 12 * 3600.0
#: Sessions one node keeps at most; signing in beyond it drops the oldest.
MAX_SESSIONS = 10_000
COOKIE = "connectord_console"


@dataclass
class Session:
    """One signed-in browser."""

    id: str
    key_hash: str
    email: str
    csrf: str
    created: float
    seen: float

    def csrf_matches(self, token: str | None) -> bool:
        """Constant-time comparison with the session's CSRF token."""
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class Sessions:
    """The sessions of one node, by id."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._by_id: dict[str, Session] = {}

    def open(self, key_hash: str, email: str) -> Session:
        """A new session with fresh, unguessable id and CSRF token (a new id at every sign-in:
        no session fixation)."""
        self._expire()
        while len(self._by_id) >= MAX_SESSIONS:
            del self._by_id[next(iter(self._by_id))]  # dicts keep insertion order: the oldest
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), key_hash, email, secrets.token_urlsafe(32), now, now)
        self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id (its idle time restarts), or None."""
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if now - session.seen > IDLE_SECONDS or now - session.created > MAX_SECONDS:
            del self._by_id[session_id]
            return None
        session.seen = now
        return session

    def close(self, session_id: str | None) -> None:
        """Sign out: forget the session."""
        if session_id:
            self._by_id.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._by_id)

    def _expire(self) -> None:
        now = self._clock()
        for session in list(self._by_id.values()):
            if now - session.seen > IDLE_SECONDS or now - session.created > MAX_SECONDS:
                del self._by_id[session.id]
