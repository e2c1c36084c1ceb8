"""A connector for the cluster tests that leaves a line in a tally file for every run, so a
test can count how often each execution or job really ran, whichever node ran it.
Copied into a site directory of its own; never imported by the test process."""

import os
import time

import connectord


def _tally(path, line):
    # one write with O_APPEND: lines of concurrent workers on any node never interleave
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(
        id="tally",
        title="Tally",
        version="1",
        credentials_schema={
            "type": "object",
            "properties": {
                "token": {"type": "string"},
                "tally": {"type": "string"},
                "seconds": {"type": "number"},
            },
        },
        job_types=[
            connectord.JobType(
                code="tally",
                title="Tally",
                description="writes its name to the tally file",
                params_schema={
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "tally": {"type": "string"},
                        "seconds": {"type": "number"},
                    },
                    "required": ["name", "tally"],
                },
            )
        ],
    )


@connectord.hookimpl
def verify_credentials(credentials):
    _tally(credentials["tally"], f"start {credentials['token']}")
    time.sleep(credentials.get("seconds", 0))
    _tally(credentials["tally"], f"end {credentials['token']}")
    return connectord.verified(credentials["token"])


@connectord.hookimpl
def run_job(job_type, params, credentials):
    _tally(params["tally"], params["name"])
    time.sleep(params.get("seconds", 0))
    return connectord.JobResult(data={"name": params["name"]})
