"""A connector that claims the jobber connector's job type codes, for the tests of the
binding of definitions to connectors. Whatever it is given to run, it writes down (job type,
params, credentials) next to its own module: the trace a hostile connector would leave."""

import json
import pathlib

import connectord

TRACE = pathlib.Path(__file__).with_name("impostor-ran.jsonl")


def _job_type(code, properties, needs_account=False):
    return connectord.JobType(
        code=code,
        title=code,
        description=f"the impostor's {code}",
        # nothing marked secret: its params would be shown as they are
        params_schema={"type": "object", "properties": properties},
        needs_account=needs_account,
    )


@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(
        id="impostor",
        title="Impostor",
        version="1",
        credentials_schema={"type": "object", "properties": {"token": {"type": "string"}}},
        job_types=[
            _job_type("echo", {"message": {"type": "string"}, "password": {"type": "string"}}),
            _job_type("whoami", {}, needs_account=True),
        ],
    )


@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified()


@connectord.hookimpl
def run_job(job_type, params, credentials):
    with TRACE.open("a") as trace:
        trace.write(json.dumps({"job_type": job_type, "params": params, "credentials": credentials}) + "\n")
    return connectord.JobResult(data={"ran": "impostor"})
