"""What aiohttp's connection handler logs, with malformed HTTP kept to one warning line.

aiohttp logs every request it cannot parse (a bad request line, header or chunk) as an
ERROR with its traceback, whose text quotes the offending bytes: anyone could fill the log,
and a bad ``Authorization`` line would land in it. Here such a request is one WARNING line
naming the peer and the parser's reason (not the bytes), on ``connectord.api.http``; other
errors are logged as before.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger("connectord.api.http")
#: Where the parser starts quoting the request's bytes.
_QUOTED = re.compile(r"bytearray\(|b'|b\"|'|\"")


class HandlerLogger(logging.LoggerAdapter[logging.Logger]):
    """The ``logger`` of aiohttp's ``RequestHandler`` (``handler_args`` of the app)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        super().__init__(logger or logging.getLogger("aiohttp.server"), {})  # where aiohttp logs

    def exception(self, msg: object, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        if not self._malformed(msg, args, exc_info):
            self.logger.error(msg, *args, exc_info=exc_info, **kwargs)

    def debug(self, msg: object, *args: Any, exc_info: Any = None, **kwargs: Any) -> None:
        # aiohttp logs a bad method in a connection's first request at DEBUG, with its traceback
        if not self._malformed(msg, args, exc_info):
            self.logger.debug(msg, *args, exc_info=exc_info, **kwargs)

    def _malformed(self, msg: object, args: tuple[Any, ...], exc_info: Any) -> bool:
        """Log a malformed request as one line; False if ``exc_info`` is something else."""
        if not isinstance(exc_info, HttpProcessingError):
            return False
        peer = args[0] if args and msg == "Error handling request from %s" else "a client"
        log.warning("malformed HTTP request from %s: %s", peer, reason(exc_info))
        return True


def reason(exc: HttpProcessingError) -> str:
    """The parser's reason in one short line, without the bytes it quotes."""
    lines = [line.strip() for line in str(exc.message).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    first = _QUOTED.split(first)[0].strip().rstrip(":")  # what it quotes may be a secret
    return f"{exc.code} {type(exc).__name__}: {first}"[:200]
