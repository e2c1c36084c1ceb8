"""The console's sign-in sessions: kept in this process's memory, never in the browser.

A session holds the hash of the API key it was opened with (never the key), so every request
looks the principal up again: a revoked key ends its sessions at once. A session ends after
``IDLE_SECONDS`` without a request or ``MAX_SECONDS`` after sign-in, whichever comes first.
Sessions live in one node's memory: behind a load balancer, pin a console user to a node (or
sign in again after a restart); the JSON API itself is stateless and unaffected.

How many are kept is bounded per user and per node, so that no user's sign-ins can end
another user's session: a user holds at most ``MAX_SESSIONS_PER_USER`` (signing in once
more ends that user's oldest), and when the node holds ``MAX_SESSIONS`` a sign-in ends the
oldest session of the user holding the most, never another user's only session: when every
user holds one, a new user's sign-in is refused (:class:`TooManySessions`) until sessions
end.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from connectord.plugins.server_errors import Unavailable

IDLE_SECONDS = 3600.0
MAX_SECONDS = 12 * 3600.0
#: Sessions one user keeps at most (browsers, tabs signed in apart); one more ends the
#: user's oldest.
MAX_SESSIONS_PER_USER = 20
#: Sessions one node keeps at most; beyond it, the user holding the most loses the oldest.
MAX_SESSIONS = 10_000
COOKIE = "connectord_console"


class TooManySessions(Unavailable):
    """The node holds ``MAX_SESSIONS`` sessions, each another user's only one: a new user's
    sign-in waits until some end (idle ones do after ``IDLE_SECONDS``)."""

    public_message = "Too many console sessions are open on this server: try again later."


@dataclass
class Session:
    """One signed-in browser."""

    id: str
    key_hash: str
    email: str
    csrf: str
    created: float
    seen: float

    @property
    def user(self) -> str:
        """Whose session this is: emails are unique and compared without case at sign-in."""
        return self.email.lower()

    def csrf_matches(self, token: str | None) -> bool:
        """Constant-time comparison with the session's CSRF token."""
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class Sessions:
    """The sessions of one node, by id, and each user's in the order they were opened."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._by_id: dict[str, Session] = {}
        #: user → their session ids, oldest first (a dict keeps insertion order)
        self._by_user: dict[str, dict[str, None]] = {}

    def open(self, key_hash: str, email: str) -> Session:
        """A new session with fresh, unguessable id and CSRF token (a new id at every sign-in:
        no session fixation). ``TooManySessions`` when the node is full of other users' only
        sessions."""
        self._expire()
        user = email.lower()
        own = self._by_user.get(user, {})
        while len(own) >= MAX_SESSIONS_PER_USER:
            self._drop(next(iter(own)))
        while len(self._by_id) >= MAX_SESSIONS:
            self._drop(self._evictable(user))
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), key_hash, email, secrets.token_urlsafe(32), now, now)
        self._by_id[session.id] = session
        self._by_user.setdefault(user, {})[session.id] = None
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id (its idle time restarts), or None."""
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if self._ended(session, now):
            self._drop(session_id)
            return None
        session.seen = now
        return session

    def close(self, session_id: str | None) -> None:
        """Sign out: forget the session."""
        if session_id:
            self._drop(session_id)

    def held_by(self, email: str) -> int:
        """How many sessions this user holds."""
        return len(self._by_user.get(email.lower(), {}))

    def __len__(self) -> int:
        return len(self._by_id)

    def _evictable(self, user: str) -> str:
        """The session to end for ``user``'s sign-in on a full node: the oldest of the user
        holding the most (``user`` first among equals), but never another user's only one."""
        victim = max(self._by_user, key=lambda u: (len(self._by_user[u]), u == user))
        held = self._by_user[victim]
        if len(held) < 2 and victim != user:
            raise TooManySessions(
                f"the console holds {len(self._by_id)} sessions, each another user's only one"
            )
        return next(iter(held))

    def _drop(self, session_id: str) -> None:
        session = self._by_id.pop(session_id, None)
        if session is None:
            return
        own = self._by_user.get(session.user)
        if own is not None:
            own.pop(session_id, None)
            if not own:
                del self._by_user[session.user]

    @staticmethod
    def _ended(session: Session, now: float) -> bool:
        return now - session.seen > IDLE_SECONDS or now - session.created > MAX_SECONDS

    def _expire(self) -> None:
        now = self._clock()
        for session in list(self._by_id.values()):
            if self._ended(session, now):
                self._drop(session.id)
