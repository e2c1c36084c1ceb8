"""A connector for the API tests: credentials with a secret, a job type that naps (or fails),
and a verify_credentials that can take its time: what the CLI and the clients need to show
waiting, progress, cancelling and masking."""

SOURCE = """
import logging
import time

import connectord

log = logging.getLogger("napper")

NAP = connectord.JobType(
    code="nap", title="Nap", needs_account=False,
    params_schema={
        "type": "object", "properties": {"seconds": {"type": "number"}, "fail": {"type": "boolean"}}
    },
)

@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(
        id="napper", title="Napper", version="1.0.0", job_types=[NAP],
        credentials_schema={
            "type": "object", "required": ["user"],
            "properties": {"user": {"type": "string"}, "token": {"type": "string", "secret": True},
                           "sleep": {"type": "number"}},
        },
    )

@connectord.hookimpl
def verify_credentials(credentials):
    time.sleep(credentials.get("sleep", 0))
    if credentials.get("token") == "good-token-1":
        return connectord.verified("welcome " + credentials["user"])
    return connectord.not_verified("auth", "bad token", field="token")

@connectord.hookimpl
def run_job(job_type, params, credentials):
    log.info("napping %s s", params.get("seconds", 0))
    time.sleep(params.get("seconds", 0))
    if params.get("fail"):
        raise RuntimeError("asked to fail")
    slept = params.get("seconds", 0)
    return connectord.JobResult(data={"slept": slept}, outputs={"slept": slept})
"""
