"""What the jobs service refuses with, beside InvalidRequestError (a 400)."""


class NotFoundError(LookupError):
    """No such job type, definition or job for this tenant (a 404)."""


class StateError(Exception):
    """The request does not fit the state of the definition or job (a 409)."""
