"""Every API operation a client calls, described once.

The clients' methods (:class:`~connectord.client.Client`, :class:`~connectord.client.AsyncClient`)
and the CLI's sub-commands of ``connectord accounts|job-types|job-definitions|jobs|executions|
components`` are made from this table, and ``tests/unit/test_operations.py`` holds it equal to
``api/openapi.json`` (method, path, operationId, parameters; every operation a client should call
has an entry), so the three cannot drift.

An entry names the operation as the document does (``operation_id``), the client method
(``name``: path parameters positional, query parameters as snake_case keywords, ``body`` a
keyword) and the CLI command (``group`` and ``command``). ``custom`` entries have a client
method written by hand (seed 001's exec protocol: Location, 303, delivered once) that still
sends this method and path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PATH_PARAM = re.compile(r"\{([^}]+)\}")


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str
    operation_id: str
    group: str
    command: str
    summary: str
    #: Query parameters, as the API spells them.
    query: tuple[str, ...] = ()
    #: Its JSON body: "" none, "optional" or "required".
    body: str = ""
    #: The client method is written by hand (see the module's docstring).
    custom: bool = False

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(_PATH_PARAM.findall(self.path))

    @property
    def keywords(self) -> dict[str, str]:
        """The client's keyword for each query parameter: ``jobDefinitionCode`` is
        ``job_definition_code``."""
        return {snake_case(name): name for name in self.query}


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


PAGE = ("limit", "offset")

OPERATIONS: tuple[Operation, ...] = (
    # -- the exec API (seed 001): hand-written client methods
    Operation("schedule", "POST", "/v1/exec/schedule", "scheduleExecution", "executions", "schedule",
              "schedule an execution", custom=True, body="required"),
    Operation("poll", "GET", "/v1/exec/poll/{execution_id}", "pollExecution", "executions", "poll",
              "whether an execution's result is ready", query=("wait",), custom=True),
    Operation("result", "GET", "/v1/exec/result/{execution_id}", "getExecutionResult", "executions", "result",
              "an execution's result (delivered once)", query=("logs",), custom=True),
    Operation("cancel", "DELETE", "/v1/exec/{execution_id}", "cancelExecution", "executions", "cancel",
              "cancel a queued or running execution", custom=True),
    Operation("list_executions", "GET", "/v1/exec", "listExecutions", "executions", "list",
              "the tenant's executions, newest first",
              query=("status", "component", "execution_type", "since", "until", *PAGE)),
    Operation("get_execution", "GET", "/v1/exec/{execution_id}", "getExecution", "executions", "show",
              "one execution's status and metadata (its result stays unread)"),
    # -- components
    Operation("list_components", "GET", "/v1/components", "listComponents", "components", "list",
              "installed connectors and load failures"),
    Operation("get_component", "GET", "/v1/components/{component_id}", "getComponent", "components", "show",
              "one connector's description"),
    Operation("reload_components", "POST", "/v1/components/_reload", "reloadComponents", "components",
              "reload", "take in connectors installed, upgraded or removed since the server started"),
    # -- accounts
    Operation("create_account", "POST", "/v1/accounts", "createAccount", "accounts", "add",
              "store credentials for a component", body="required"),
    Operation("list_accounts", "GET", "/v1/accounts", "listAccounts", "accounts", "list",
              "the tenant's accounts, secrets masked", query=PAGE),
    Operation("get_account", "GET", "/v1/accounts/{account_id}", "getAccount", "accounts", "show",
              "one account, secrets masked"),
    Operation("replace_account", "PUT", "/v1/accounts/{account_id}", "replaceAccount", "accounts", "replace",
              "replace an account (a masked secret keeps the stored one)", body="required"),
    Operation("verify_account", "POST", "/v1/accounts/{account_id}/_verify", "verifyAccount", "accounts",
              "test", "verify an account's stored credentials with its connector", query=("wait",)),
    Operation("delete_account", "DELETE", "/v1/accounts/{account_id}", "deleteAccount", "accounts", "delete",
              "delete an account"),
    # -- job types
    Operation("list_job_types", "GET", "/v1/job-types", "listJobTypes", "job-types", "list",
              "job types with their params schemas"),
    Operation("get_job_type", "GET", "/v1/job-types/{code}", "getJobType", "job-types", "show",
              "one job type"),
    Operation("execute_job_type", "POST", "/v1/job-types/{code}/_execute", "executeJobType", "job-types",
              "execute", "run a job type now (an ad-hoc job)", body="optional"),
    # -- job definitions
    Operation("create_job_definition", "POST", "/v1/job-definitions", "createJobDefinition",
              "job-definitions", "create", "create a job definition", body="required"),
    Operation("list_job_definitions", "GET", "/v1/job-definitions", "listJobDefinitions",
              "job-definitions", "list", "the tenant's job definitions", query=PAGE),
    Operation("get_job_definition", "GET", "/v1/job-definitions/{code}", "getJobDefinition",
              "job-definitions", "show", "one job definition"),
    Operation("update_job_definition", "PATCH", "/v1/job-definitions/{code}", "updateJobDefinition",
              "job-definitions", "update", "change a job definition's fields", body="required"),
    Operation("delete_job_definition", "DELETE", "/v1/job-definitions/{code}", "deleteJobDefinition",
              "job-definitions", "delete", "delete a job definition"),
    Operation("start_job_definition", "POST", "/v1/job-definitions/{code}/_start", "startJobDefinition",
              "job-definitions", "start", "start a definition's schedule"),
    Operation("stop_job_definition", "POST", "/v1/job-definitions/{code}/_stop", "stopJobDefinition",
              "job-definitions", "stop", "stop a definition's schedule"),
    Operation("execute_job_definition", "POST", "/v1/job-definitions/{code}/_execute", "executeJobDefinition",
              "job-definitions", "execute", "run a definition now, whatever its state", body="optional"),
    Operation("next_fire_times", "GET", "/v1/job-definitions/{code}/next", "nextJobDefinitionFireTimes",
              "job-definitions", "next", "a definition's next fire times", query=("n",)),
    # -- jobs
    Operation("list_jobs", "GET", "/v1/jobs", "listJobs", "jobs", "list", "job runs, newest first",
              query=(*PAGE, "jobDefinitionCode", "status", "since")),
    Operation("get_job", "GET", "/v1/jobs/{job_id}", "getJob", "jobs", "show",
              "one job run (with wait: once it is over, or after that many seconds)", query=("wait",)),
    Operation("cancel_job", "DELETE", "/v1/jobs/{job_id}", "cancelJob", "jobs", "cancel", "cancel a job run"),
)  # fmt: skip

#: Operations of the document no client calls, and why.
NOT_CALLED = {
    "getHealth": "for load balancers and monitoring (no credentials)",
    "getOpenApi": "the document itself",
    "getMetrics": "for Prometheus (its own token)",
    "startProcess": "seed 004's process scheduler, for its own clients; job definitions do the same",
    "startProcessAsWritten": "seed 004's spelling of startProcess",
    "getProcessStatus": "seed 004's process scheduler, for its own clients; jobs do the same",
}

BY_NAME = {operation.name: operation for operation in OPERATIONS}
