"""Exit codes of ``connectord``, so scripts can tell failures apart."""

OK = 0
#: The connector ran but rejected the call (it raised or returned nothing valid).
CALL_REJECTED = 1
#: ``connectord check``: a check failed.
CHECK_FAILED = 1
#: ``connectord connectors install``: pip could not install what was asked.
INSTALL_FAILED = 1
#: Bad command-line input: unknown connector or action, invalid JSON, missing option.
USAGE = 2
#: The environment is unusable: bad setting, data directory or store, port in use.
CONFIGURATION = 3
#: verify_credentials answered that the credentials do not work.
NOT_VERIFIED = 4


class CliError(Exception):
    """A one-line error for the user, with the exit code to leave with."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


#: Outcomes of ``connectord call`` other than Succeeded and Rejected.
TIMED_OUT = 5
MEMORY_EXCEEDED = 6
CRASHED = 7
CANCELLED = 8
#: ``connectord exec --wait`` gave up before the result was ready (the execution goes on).
WAIT_TIMED_OUT = 9
