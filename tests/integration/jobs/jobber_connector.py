"""A connector with job types for the jobs tests; copied into a temporary site directory
with an entry point, never imported by the test process itself."""

import logging
import pathlib
import time

import connectord

log = logging.getLogger("jobber")


def _job_type(code, properties, required=(), needs_account=False):
    return connectord.JobType(
        code=code,
        title=code,
        description=f"test job type {code}",
        params_schema={"type": "object", "properties": properties, "required": list(required)},
        needs_account=needs_account,
    )


@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(
        id="jobber",
        title="Jobber",
        version="1",
        credentials_schema={"type": "object", "properties": {"token": {"type": "string", "secret": True}}},
        job_types=[
            _job_type(
                "echo", {"message": {"type": "string"}, "password": {"type": "string", "secret": True}}
            ),
            # seed 004's example process: builds a full name from the values it gets
            _job_type("OneStepNotepadRunner", {"username": {"type": "string"}}),
            _job_type(
                "flaky",
                {"counter": {"type": "string"}, "failTimes": {"type": "integer", "minimum": 0}},
                required=("counter", "failTimes"),
            ),
            _job_type("sleep", {"seconds": {"type": "number"}, "started": {"type": "string"}}, ("seconds",)),
            _job_type("whoami", {}, needs_account=True),
        ],
    )


@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified()


@connectord.hookimpl
def run_job(job_type, params, credentials):
    if job_type == "echo":
        log.info("echo %s with password %s", params.get("message"), params.get("password"))
        return connectord.JobResult(
            data={"echo": params.get("message")}, outputs={"length": len(params.get("message", ""))}
        )
    if job_type == "OneStepNotepadRunner":
        full = " ".join(str(v) for v in params.values())
        return connectord.JobResult(data={"fullName": full}, outputs={"x": full})
    if job_type == "flaky":
        counter = pathlib.Path(params["counter"])
        count = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(count))
        if count <= params["failTimes"]:
            raise connectord.UpstreamError(f"attempt {count} failed")
        return connectord.JobResult(data={"attempts": count})
    if job_type == "sleep":
        if params.get("started"):
            pathlib.Path(params["started"]).write_text("started")
        time.sleep(params["seconds"])
        return connectord.JobResult(data="slept")
    if job_type == "whoami":
        return connectord.JobResult(data={"token_length": len(credentials.get("token", ""))})
    raise connectord.ConnectorError(f"unknown job type {job_type}")
