"""A connector whose job types misbehave on purpose, to test run_job in the sandbox.

Copied into a temporary site directory with an entry point; never imported by the test
process itself.
"""

import logging
import os
import sys
import time

import connectord

log = logging.getLogger("jobhostile")

SCHEMA = {
    "type": "object",
    "properties": {
        "token": {"type": "string", "secret": True},
        "note": {"type": "string"},
        "seconds": {"type": "number"},
    },
    "additionalProperties": False,
}
CODES = ("hostile.hang", "hostile.leak", "hostile.echo", "hostile.nap")


class JobHostile:
    @connectord.hookimpl
    def describe_connector(self):
        return connectord.ConnectorInfo(
            id="jobhostile",
            title="Hostile jobs",
            version="1",
            job_types=[connectord.JobType(code=code, title=code, params_schema=SCHEMA) for code in CODES],
        )

    @connectord.hookimpl
    def verify_credentials(self, credentials):
        return connectord.verified()

    @connectord.hookimpl
    def run_job(self, job_type, params):
        if job_type == "hostile.hang":
            while True:
                time.sleep(60)
        if job_type == "hostile.leak":
            log.warning("params: %s", params)
            print("token is", params["token"])
            print("repr:", repr(params), file=sys.stderr)
            raise RuntimeError(f"refused token {params['token']}")
        if job_type == "hostile.nap":
            time.sleep(params.get("seconds", 0.2))
            return connectord.JobResult(data={"pid": os.getpid()})
        log.info("echoing %s", params.get("note", ""))
        return connectord.JobResult(data=params, outputs={"token": params.get("token"), "pid": os.getpid()})


jobhostile = JobHostile()


class JobOther:
    """Another connector of the same package, with a job type of its own."""

    @connectord.hookimpl
    def describe_connector(self):
        code = "other.nap"
        return connectord.ConnectorInfo(
            id="jobother",
            title="Other jobs",
            version="1",
            job_types=[connectord.JobType(code=code, title=code, params_schema=SCHEMA)],
        )

    @connectord.hookimpl
    def run_job(self, job_type, params):
        time.sleep(params.get("seconds", 0.2))
        return connectord.JobResult(data={"pid": os.getpid()})


jobother = JobOther()
