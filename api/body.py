"""Reading a request's body, decoded as its ``Content-Encoding`` says, and decoding it as
JSON of a msgspec type with errors that name the parameter at fault.

aiohttp's own decoding is off (``auto_decompress=False`` in the app): it answers an encoding
it cannot decode (``br`` without Brotli) with a plain-text 400 of its own and a body that is
not what it claims with a 500. Here every such body gets the API's 400 naming the header, and
the decoded size is held to the same limit as the body itself (413).
"""

from __future__ import annotations

import json
import math
import zlib
from typing import TypeVar, cast

import msgspec
from aiohttp import web

from connectord.plugins.server_errors import Invalid
from connectord.runtime.validation import InvalidRequestError, convert, first_path, integral, named

T = TypeVar("T")

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


def decode_json(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """The body as ``decoder``'s type; every error names the parameter at fault."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        if str(exc).startswith("Number out of range"):  # msgspec loses the path: find it
            raise _out_of_range(body) from None
        if "got `float`" not in str(exc):
            raise named(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidRequestError(f"the body is not valid JSON: {exc}", "body") from None
    except RecursionError:
        raise InvalidRequestError("the body is nested too deeply", "body") from None
    # JSON Schema's integers include 3.0: the document says "integer", msgspec wants an int.
    # convert() checked it as decoder's type, which the stubs give as a TypeForm, not a type.
    return cast(T, convert(integral(msgspec.json.decode(body)), decoder.type))


#: Values looked at to name where a number out of range is (≈ 1 µs each).
NAMING_LIMIT = 10_000


def _out_of_range(body: bytes) -> InvalidRequestError:
    """The error for a number no float can hold (1e400), naming where it is."""
    try:
        data = json.loads(body)  # Python reads 1e400 as inf, where msgspec refuses
    except (ValueError, RecursionError):
        return InvalidRequestError("a number in the body is out of range", "body")
    # Named where it is found soon: a walk in Python over a whole 1 MiB body holds the loop.
    path = first_path(data, lambda v: isinstance(v, float) and not math.isfinite(v), limit=NAMING_LIMIT)
    name = path or "body"
    return InvalidRequestError(f"parameter '{name}': number out of range", name)
