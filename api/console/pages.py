"""The console's pages: sign-in and sign-out, the page shells, and its static files.

Pages are server-rendered shells (every value HTML-escaped); their content is built in the
browser by ``static/core.js`` and the page's own script (``static/PAGE.js``) from the JSON
API, with text nodes only.
"""

from __future__ import annotations

import html
import logging
import string
from importlib import resources
from typing import Final

from aiohttp import web

from connectord.api.console.middleware import PREFIX, SESSIONS, session_principal
from connectord.api.console.sessions import COOKIE, Session, TooManySessions
from connectord.api.keys import STORE, STORE_RUNNER
from connectord.runtime.secrets import hash_api_key

#: Path segment → title, in the navigation's order.
PAGES: Final = {
    "connectors": "Connectors",
    "accounts": "Accounts",
    "playground": "Playground",
    "definitions": "Job definitions",
    "runs": "Runs",
    "executions": "Executions",
}
log = logging.getLogger(__name__)
#: Seconds a refused sign-in (the node is full of sessions) is told to wait.
RETRY_AFTER: Final = 60
STATIC_TYPES: Final = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
_PACKAGE = resources.files("connectord.api.console")


def _template(name: str) -> string.Template:
    return string.Template((_PACKAGE / "templates" / name).read_text("utf-8"))


_PAGE = _template("page.html")
_LOGIN = _template("login.html")
_STATIC = {
    entry.name: entry.read_bytes()
    for entry in (_PACKAGE / "static").iterdir()
    if any(entry.name.endswith(ext) for ext in STATIC_TYPES)
}


def _html(text: str, status: int = 200) -> web.Response:
    response = web.Response(text=text, status=status, content_type="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _see(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location, headers={"Cache-Control": "no-store"})


async def root(request: web.Request) -> web.Response:
    raise _see(f"{PREFIX}/connectors")


async def page(request: web.Request) -> web.Response:
    """A page's shell for a signed-in user; the sign-in form otherwise."""
    name = request.match_info["page"]
    if name not in PAGES:
        raise web.HTTPNotFound()
    found = await session_principal(request)
    if found is None:
        raise _see(f"{PREFIX}/login")
    session, principal = found
    nav = "".join(_nav_item(key, title, key == name) for key, title in PAGES.items())
    return _html(
        _PAGE.substitute(
            csrf=html.escape(session.csrf),
            title=html.escape(PAGES[name]),
            page=name,
            nav=nav,
            email=html.escape(principal.email),
            tenant=html.escape(principal.tenant_name),
        )
    )


def _nav_item(key: str, title: str, current: bool) -> str:
    marked = ' aria-current="page"' if current else ""
    return f'<li><a href="{PREFIX}/{key}"{marked}>{html.escape(title)}</a></li>'


async def login_form(request: web.Request) -> web.Response:
    if await session_principal(request) is not None:
        raise _see(f"{PREFIX}/connectors")
    return _login()


async def login(request: web.Request) -> web.Response:
    """Check the email and key of the form; a session cookie on success."""
    _same_origin(request)
    form = await request.post()
    email, key = str(form.get("email", "")).strip(), str(form.get("api_key", ""))
    if not email or not key:
        return _login("Enter your email and API key.", email, 400)
    key_hash = hash_api_key(key)
    principal = await request.app[STORE_RUNNER](request.app[STORE].principal, key_hash)
    if principal is None or principal.email.lower() != email.lower():
        return _login("Invalid email or API key.", email, 401)
    sessions = request.app[SESSIONS]
    sessions.close(request.cookies.get(COOKIE))  # a new id at every sign-in
    try:
        session = sessions.open(key_hash, principal.email)
    except TooManySessions as exc:
        log.warning("console sign-in of %s refused: %s", principal.email, exc)
        refused = _login(exc.public_message, email, 503)
        refused.headers["Retry-After"] = str(RETRY_AFTER)
        return refused
    response = _see(f"{PREFIX}/connectors")
    _set_cookie(response, request, session)
    raise response


async def logout(request: web.Request) -> web.Response:
    """Sign out: the form carries the session's CSRF token."""
    _same_origin(request)
    form = await request.post()
    sessions = request.app[SESSIONS]
    session = sessions.get(request.cookies.get(COOKIE))
    if session is not None:
        if not session.csrf_matches(str(form.get("csrf", ""))):
            raise web.HTTPForbidden(text="The sign-out form's CSRF token is wrong.")
        sessions.close(session.id)
    response = _see(f"{PREFIX}/login")
    response.del_cookie(COOKIE, path="/")
    raise response


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    body = _STATIC.get(name)
    if body is None:
        raise web.HTTPNotFound()
    content_type = next(t for ext, t in STATIC_TYPES.items() if name.endswith(ext))
    response = web.Response(body=body, content_type=content_type)
    response.headers["Cache-Control"] = "no-cache"
    return response


def _login(error: str = "", email: str = "", status: int = 200) -> web.Response:
    shown = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return _html(_LOGIN.substitute(error=shown, email=html.escape(email)), status)


def _set_cookie(response: web.StreamResponse, request: web.Request, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        session.id,
        path="/",  # the console's pages and the API they call
        # no Max-Age: a browser-session cookie; the server ends the session (sessions.py)
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )


def _same_origin(request: web.Request) -> None:
    """Refuse a form posted from another site (a browser sends Origin with every POST)."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        raise web.HTTPForbidden(text="Cross-origin form posts are refused.")
