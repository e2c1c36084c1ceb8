"""Reading a request's body, decoded as its ``Content-Encoding`` says.

aiohttp's own decoding is off (``auto_decompress=False`` in the app): it answers an encoding
it cannot decode (``br`` without Brotli) with a plain-text 400 of its own and a body that is
not what it claims with a 500. Here every such body gets the API's 400 naming the header, and
the decoded size is held to the same limit as the body itself (413).
"""

from __future__ import annotations

import zlib

from aiohttp import web

from connectord.plugins.server_errors import Invalid

HEADER = "Content-Encoding"
#: zlib's window bits: a gzip member, a zlib stream, a raw deflate stream.
_GZIP, _ZLIB, _RAW = 16 + zlib.MAX_WBITS, zlib.MAX_WBITS, -zlib.MAX_WBITS
_WBITS = {"gzip": (_GZIP,), "x-gzip": (_GZIP,), "deflate": (_ZLIB, _RAW)}


async def read_body(request: web.Request) -> bytes:
    """The body, decoded (``identity``, ``gzip`` or ``deflate``); 400 naming
    ``Content-Encoding`` for another encoding or a body that does not decode."""
    raw = await request.read()
    encoding = request.headers.get(HEADER, "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in _WBITS:
        raise Invalid(f"{HEADER} must be gzip, deflate or identity", HEADER)
    limit = request.client_max_size  # what the undecoded body may be, decoded too
    for wbits in _WBITS[encoding]:
        decoded = _decode(raw, wbits, limit)
        if decoded is not None:
            return decoded
    raise Invalid(f"the body is not valid {encoding} data", HEADER)


def _decode(raw: bytes, wbits: int, limit: int) -> bytes | None:
    """``raw`` decompressed, or None if it is not one whole stream of that kind."""
    decompressor = zlib.decompressobj(wbits)
    try:
        decoded = decompressor.decompress(raw, limit + 1)
    except zlib.error:
        return None
    if len(decoded) > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(decoded))
    if not decompressor.eof or decompressor.unused_data or decompressor.unconsumed_tail:
        return None
    return decoded
