"""Removes secret values from text before it is stored, logged or returned.

Redaction is by value: every secret of the call's credentials is replaced, together with
its escaped, URL-encoded and base64 forms. A form of ``MIN_SECRET_LENGTH`` characters or
more is replaced wherever it appears; a shorter one (a secret of 1 to 3 characters) wherever
it stands as a whole token, that is with no letter or digit right before or after it: ``ab``
is masked in ``key=ab``, ``"ab"`` and ``ab_1``, not inside ``tab`` or ``about``. Masking a
short secret inside words would leave no message readable, and a secret found only inside a
longer word tells nothing of where it is; there is no length below which a secret is let
through.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote

from connectord.plugins.server_errors import Invalid
from connectord.sandbox.bounds import MAX_NAME_CHARS, MAX_TEXT_CHARS, MAX_TRACEBACK_CHARS, cut_note
from connectord.sandbox.outcomes import Rejected

MASK = "**********"
MIN_SECRET_LENGTH = 4
#: Characters of text times forms of secrets one outcome's (or one call's log lines')
#: redaction may search: Python's ``re`` tries each form at every position, ≈ 1.7 ns
#: each here, on the server's event loop (a 15 MB result with 100 secrets held it 20 s).
#: This many take some 50 ms: a result of 3 MB for a call with one secret and a user name.
MAX_REDACTION_WORK = 30_000_000


class RedactionTooCostlyError(Invalid, RuntimeError):
    """Searching the text for the call's secrets would take more than its budget."""


class Redactor:
    def __init__(self, secrets: Iterable[str], users: Iterable[str] = ()) -> None:
        """``users`` are the other credential values (a user name, a key id): an HTTP Basic
        header carries ``base64(user:secret)``, in which the secret's own base64 is not found."""
        forms: set[str] = set()
        users = [u for u in users if u]
        for secret in secrets:
            if secret:
                forms.update(_forms(secret))
                forms.update(base64.b64encode(f"{user}:{secret}".encode()).decode() for user in users)
        forms.discard("")
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(_pattern, ordered))) if ordered else None
        #: The longest form masked: how far past a cut a secret that starts before it reaches.
        self._longest = len(ordered[0]) if ordered else 0
        #: How many forms the pattern tries at each position of a text.
        self.forms = len(ordered)
        #: What searching logs may still cost (see ``spend``).
        self.log_budget = MAX_REDACTION_WORK

    def text(self, value: str) -> str:
        return self._pattern.sub(MASK, value) if self._pattern else value

    def bounded(self, value: str, limit: int, total: int | None = None) -> str:
        """The first ``limit`` characters of ``value``, redacted, then a note of the cut when
        there was one (of ``total`` characters, where ``value`` is the first of them). Only
        the window a cut keeps is searched (its cost is bounded by the limit, not by the
        text), and a secret that starts before the cut is masked whole: its first characters
        are never left at the end."""
        if len(value) <= limit:
            return self.text(value)
        head = value[: limit + self._longest - 1] if self._pattern else ""
        kept: list[str] = []
        end = 0
        for match in self._pattern.finditer(head) if self._pattern else ():
            if match.start() >= limit:
                break
            kept += [head[end : match.start()], MASK]
            end = match.end()
        kept.append(value[end:limit])  # empty when the last mask reaches past the cut
        return "".join(kept) + cut_note(value, limit, total)

    def data(self, value: Any) -> Any:
        """Redact every string inside JSON-like data (keys included); raises
        RedactionTooCostlyError where that would search more than MAX_REDACTION_WORK."""
        if self._pattern is None:
            return value
        return self._data(value, [MAX_REDACTION_WORK])

    def _data(self, value: Any, left: list[int]) -> Any:
        if isinstance(value, str):
            left[0] -= (len(value) + 1) * self.forms
            if left[0] < 0:
                raise RedactionTooCostlyError(
                    f"its text is too long to be searched for the call's {self.forms} forms of secrets "
                    f"(at most {MAX_REDACTION_WORK // self.forms} characters)"
                )
            return self.text(value)
        if isinstance(value, dict):
            return {self._data(k, left): self._data(v, left) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._data(v, left) for v in value]
        return value

    def spend_on_log(self, characters: int) -> bool:
        """Whether a log line of ``characters`` may still be searched (and count it)."""
        if self._pattern is None:
            return True
        self.log_budget -= characters * self.forms
        return self.log_budget >= 0


def kept_rejection(outcome: Rejected, redactor: Redactor, *, debug: bool = False) -> Rejected:
    """A rejection as it may be kept: its names and message cut to their bounds, then
    redacted. Its traceback is kept (bounded and redacted the same way) only for a caller
    that asked for it: a worker may send one unasked."""
    field = None if outcome.field is None else redactor.bounded(outcome.field, MAX_NAME_CHARS)
    trace = outcome.traceback if debug else None
    return Rejected(
        redactor.bounded(outcome.error_type, MAX_NAME_CHARS),
        redactor.bounded(outcome.message, MAX_TEXT_CHARS),
        field,
        None if trace is None else redactor.bounded(trace, MAX_TRACEBACK_CHARS),
    )


def _pattern(form: str) -> str:
    """``form`` anywhere, or (shorter than MIN_SECRET_LENGTH) as a whole token."""
    if len(form) >= MIN_SECRET_LENGTH:
        return re.escape(form)
    return rf"(?<![^\W_]){re.escape(form)}(?![^\W_])"  # no letter or digit either side


def _forms(secret: str) -> set[str]:
    raw = secret.encode()
    b64 = base64.b64encode(raw).decode()
    return {
        secret,
        repr(secret)[1:-1],  # as printed inside a dict or a list
        json.dumps(secret)[1:-1],  # as in a JSON document
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        b64,
        b64.rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }


def secret_values(credentials: dict[str, Any], secret_fields: Iterable[str]) -> list[str]:
    """The string values of the credential fields marked secret."""
    return [v for k in secret_fields if isinstance(v := credentials.get(k), str)]


#: The user info of a URL: ``scheme://USERINFO@host``, up to the authority's last ``@`` (a
#: password typed without percent-encoding may hold one; libpq and the sql connector read
#: such URLs).
#: A scheme starts only where no scheme character comes before it: else each character of
#: a long run of letters was a start of its own, each scanning the run again (a 40 KB
#: string held the loop 35 s).
_USERINFO = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://([^/?#\s]+)@")

#: A ``password`` query parameter, which libpq reads as the password: its value.
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&#\s]+)", re.IGNORECASE)


def url_passwords(value: Any) -> list[str]:
    """The credentials in the user info of URLs among the strings of ``value`` (JSON-like
    data): each ``user:password`` and its password, or a lone user name, which in a URL
    such as ``https://TOKEN@host`` is often a token; and the value of each ``password=``
    parameter, as written and decoded."""
    found: list[str] = []
    for text in _strings(value):
        for match in _USERINFO.finditer(text):
            userinfo = match.group(1)
            user, colon, password = userinfo.partition(":")
            found.append(userinfo)
            found.append(unquote(password if colon else user))
        for match in _QUERY_PASSWORD.finditer(text):
            found.append(match.group(2))
            found.append(unquote(match.group(2)))
    return found


def masked_urls(value: Any) -> Any:
    """``value`` (JSON-like data) with the secret of the user info of every URL among its
    strings masked, for API answers: ``scheme://user:MASK@host``, or ``scheme://MASK@host``
    for a lone user name (see ``url_passwords``), and a ``password=`` parameter's value.
    A password holding an unencoded ``/``, ``?``, ``#`` or space is no user info to a URL
    parser (nor to libpq), and is not recognised: such a secret belongs in a secret field."""
    if isinstance(value, str):
        if "@" in value:
            value = _USERINFO.sub(_masked_userinfo, value)
        return _QUERY_PASSWORD.sub(rf"\g<1>{MASK}", value) if "=" in value else value
    if isinstance(value, dict):
        return {key: masked_urls(item) for key, item in value.items()}
    if isinstance(value, list):
        return [masked_urls(item) for item in value]
    return value


def holds_masked_url(value: Any) -> bool:
    """Whether a URL among the strings of ``value`` (JSON-like data) has MASK in its user
    info or ``password`` parameter (as ``masked_urls`` puts it)."""
    return any(_masked_in(text) for text in _strings(value))


def _masked_in(text: str) -> bool:
    return MASK in text and (
        any(MASK in match.group(1) for match in _USERINFO.finditer(text))
        or any(match.group(2) == MASK for match in _QUERY_PASSWORD.finditer(text))
    )


def _masked_userinfo(match: re.Match[str]) -> str:
    user, colon, _ = match.group(1).partition(":")
    scheme = match.group(0)[: match.start(1) - match.start(0)]
    return f"{scheme}{user}:{MASK}@" if colon else f"{scheme}{MASK}@"


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
