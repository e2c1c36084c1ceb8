"""The console's session as a way to call the JSON API, and the headers of its pages.

A request without an ``Authorization`` header but with the console's session cookie acts
as the session's user; a state-changing one must also carry the session's CSRF token in
``X-CSRF-Token`` (the cookie is ``SameSite=Strict`` as well: two defences, either enough).
Where no user is needed (the public reads, and a path or method with no route: 404, 405)
the cookie is not looked at, so an ended session answers there as no cookie would.
"""

from __future__ import annotations

from aiohttp import web

from connectord.api.auth import PUBLIC_METHODS, PUBLIC_PATHS, PUBLIC_PREFIXES
from connectord.api.console.sessions import COOKIE, Session, Sessions
from connectord.api.errors import Handler
from connectord.api.keys import PRINCIPAL, STORE, STORE_RUNNER
from connectord.plugins.server_errors import Forbidden, Unauthorized
from connectord.runtime.store.records import Principal

PREFIX = "/console"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSIONS = web.AppKey("console_sessions", Sessions)
#: No inline script or style anywhere: the console's own files only.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # no-referrer would make form posts' Origin "null"
}


@web.middleware
async def console_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on the console's pages; the session cookie as auth for the API."""
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # redirects: headers too
            exc.headers.update(SECURITY_HEADERS)
            raise
        response.headers.update(SECURITY_HEADERS)
        return response
    if "Authorization" in request.headers or COOKIE not in request.cookies or not needs_user(request):
        return await handler(request)
    found = await session_principal(request)
    if found is None:
        # Ended or unknown: 401 without the API's Basic challenge, which would make the
        # browser pop up its own sign-in dialog over the console (which signs in again).
        raise Unauthorized("The console session has ended: sign in again.", challenge=False)
    session, principal = found
    if request.method not in SAFE_METHODS and not session.csrf_matches(request.headers.get(CSRF_HEADER)):
        raise Forbidden(
            f"the console's CSRF token is missing or wrong: send it in {CSRF_HEADER}", CSRF_HEADER
        )
    request[PRINCIPAL] = principal
    return await handler(request)


def needs_user(request: web.Request) -> bool:
    """Whether the API answers this request only to a user (as ``api/auth.py`` decides):
    not the public reads, nor a request no route takes (404 or 405: nothing to guard)."""
    if request.method in PUBLIC_METHODS and (
        request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES)
    ):
        return False
    return request.match_info.http_exception is None


async def session_principal(request: web.Request) -> tuple[Session, Principal] | None:
    """The request's live session and its user, looked up again by key hash (a revoked key
    ends the session)."""
    sessions = request.app[SESSIONS]
    session = sessions.get(request.cookies.get(COOKIE))
    if session is None:
        return None
    principal = await request.app[STORE_RUNNER](request.app[STORE].principal, session.key_hash)
    if principal is None or principal.email.lower() != session.email.lower():
        sessions.close(session.id)
        return None
    return session, principal
