"""Exceptions a connector raises to say *why* a call failed, in words fit for its user.

Any other exception also becomes a Rejected outcome, with its type and message; these
ones let the connector choose the type a caller can act on.
"""


class ConnectorError(Exception):
    """The connector could not answer; the message is shown to the caller."""


class ConfigError(ConnectorError):
    """The node's configuration (``cfg``) is wrong; ``field`` names the offending key."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UpstreamError(ConnectorError):
    """The service behind the connector failed or could not be reached."""
