"""A connector for the console's browser tests: a hostile title and description (the
console must show them as text), and job types that run quickly or for a while. Copied
into a temporary site directory with an entry point, never imported by the test process."""

import logging
import pathlib
import time

import connectord

log = logging.getLogger("consoletest")

#: Markup that would run script if the console put it into the page as HTML.
HOSTILE = (
    '<img src=x onerror="document.body.dataset.xss=1">Hostile'
    "<script>document.body.dataset.xss=2</script>"
)


@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(
        id="consoletest",
        title=HOSTILE,
        version="1",
        description=f"Description with {HOSTILE}",
        credentials_schema={"type": "object", "properties": {"token": {"type": "string", "secret": True}}},
        job_types=[
            connectord.JobType(
                code="tick",
                title="Tick",
                description="Counts to n.",
                params_schema={"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}},
            ),
            connectord.JobType(
                code="hold",
                title="Hold",
                description="Runs until the file it is given exists.",
                params_schema={"type": "object", "properties": {"release": {"type": "string"}}},
            ),
        ],
    )


@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified("fine")


@connectord.hookimpl
def run_job(job_type, params, credentials):
    if job_type == "hold":
        release = pathlib.Path(params["release"])
        log.info("holding until %s exists", release.name)
        deadline = time.monotonic() + 30
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # another process creates the file: nothing to await in a worker
        return connectord.JobResult(data={"released": release.exists()})
    log.info("ticking to %s", params.get("n", 0))
    return connectord.JobResult(data={"ticks": params.get("n", 0)}, outputs={"last": params.get("n", 0)})
