"""What a webhook URL must be: checked when a definition is created or changed, and again
before each delivery (a definition an earlier version stored may hold a URL these checks
refuse: it is recorded as a failed delivery, never sent). Nothing here repeats the URL or a
part of it: its path, query or user info often hold a token."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

#: Longest URL accepted (characters): what browsers and proxies commonly carry.
MAX_URL_LENGTH = 2048
#: A host name's longest spelling (RFC 1035 §2.3.4, without its final dot) and label.
MAX_HOST_LENGTH = 253
MAX_LABEL_LENGTH = 63
SCHEMES = ("http", "https")
#: A label of a host name once IDNA-encoded: letters, digits, hyphens (and underscores,
#: which DNS carries and some hosts use).
_LABEL = re.compile(r"[A-Za-z0-9_-]{1,63}")
#: Unicode categories refused anywhere in a URL: controls, format characters (zero-width,
#: bidi), surrogates, and spaces and line or paragraph separators.
_REFUSED = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})


def problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook URL, in a few words without the URL; None if it can:
    http or https, a host that parses and IDNA-encodes (labels up to 63 characters, 253 in
    all) or an IP address, a port from 1 to 65535, no whitespace or control characters."""
    if len(url) > MAX_URL_LENGTH:
        return f"it is longer than {MAX_URL_LENGTH} characters"
    if any(unicodedata.category(c) in _REFUSED for c in url):
        return "it contains whitespace or a control character"
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed [, say
        return "its host does not parse"
    if parts.scheme not in SCHEMES or not url[: len(parts.scheme) + 3].lower().endswith("://"):
        return "it must start with http:// or https://"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        return "its port must be a number from 1 to 65535"
    return _host_problem(parts.netloc.rpartition("@")[2], parts.hostname or "")


def host_of(url: str) -> str:
    """The host of a URL :func:`problem` accepts, as a delivery record names it; "" for
    any other."""
    if problem(url) is not None:
        return ""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:  # not for a URL problem() accepts
        return ""


def _host_problem(netloc: str, host: str) -> str | None:
    if not host:
        return "it has no host"
    if netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "its IPv6 address does not parse"
        return None
    name = host[:-1] if host.endswith(".") else host  # a fully qualified name's final dot
    try:
        encoded = name.encode("idna").decode("ascii")
    except UnicodeError:
        return (
            f"its host is not a domain name: a label is empty, longer than {MAX_LABEL_LENGTH} "
            "characters or cannot be IDNA-encoded"
        )
    if len(encoded) > MAX_HOST_LENGTH:
        return f"its host is longer than {MAX_HOST_LENGTH} characters"
    if not all(_LABEL.fullmatch(label) for label in encoded.split(".")):
        return "its host is not a domain name: labels are letters, digits and hyphens"
    return None
