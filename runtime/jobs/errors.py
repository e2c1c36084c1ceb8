"""What the jobs service refuses with, beside InvalidRequestError (a 400)."""

from connectord.plugins.server_errors import Conflict, NotFound


class NotFoundError(NotFound, LookupError):
    """No such job type, definition or job for this tenant (a 404)."""


class StateError(Conflict):
    """The request does not fit the state of the definition or job (a 409)."""
