"""client/operations.py, the one description of each operation that the clients and the CLI are
made from, is the OpenAPI document's: every entry is an operation of api/openapi.json (method,
path, operationId, path and query parameters, body), every operation a client should call has
an entry, and the clients and the CLI offer each entry."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from connectord.cli.api_commands import COMMANDS, ELSEWHERE
from connectord.client import AsyncClient, Client
from connectord.client._protocol import Core
from connectord.client.models import Ready
from connectord.client.operations import NOT_CALLED, OPERATIONS, Operation

pytestmark = pytest.mark.unit

DOCUMENT = json.loads((Path(__file__).parents[2] / "api" / "openapi.json").read_text())
#: Entries for operations another change is adding to the API, and why they may be missing.
PENDING = {"verifyAccount": "POST /v1/accounts/{account_id}/_verify is being added to the API (issue 18)"}


def documented() -> dict[str, tuple[str, str, dict[str, Any]]]:
    found = {}
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                params = [
                    _resolve(p) for p in [*item.get("parameters", []), *operation.get("parameters", [])]
                ]
                found[operation["operationId"]] = (method.upper(), path, operation | {"parameters": params})
    return found


def _resolve(value: dict[str, Any]) -> dict[str, Any]:
    ref = value.get("$ref")
    if ref is None:
        return value
    node: Any = DOCUMENT
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


@pytest.mark.parametrize("entry", OPERATIONS, ids=lambda e: e.operation_id)
def test_each_entry_is_an_operation_of_the_document(entry: Operation) -> None:
    operations = documented()
    if entry.operation_id not in operations and entry.operation_id in PENDING:
        pytest.skip(PENDING[entry.operation_id])
    method, path, operation = operations[entry.operation_id]
    assert (entry.method, entry.path) == (method, path)
    params = operation["parameters"]
    assert [p["name"] for p in params if p["in"] == "path"] == list(entry.path_params)
    assert sorted(p["name"] for p in params if p["in"] == "query") == sorted(entry.query)
    body = operation.get("requestBody")
    expected = "" if body is None else "required" if body.get("required") else "optional"
    assert entry.body == expected


def test_every_operation_a_client_calls_has_an_entry() -> None:
    entries = {entry.operation_id for entry in OPERATIONS}
    assert len(entries) == len(OPERATIONS)
    assert not entries & set(NOT_CALLED)
    assert set(documented()) - set(NOT_CALLED) <= entries


@pytest.mark.parametrize("entry", OPERATIONS, ids=lambda e: e.operation_id)
def test_both_clients_and_the_cli_offer_each_entry(entry: Operation) -> None:
    assert callable(getattr(Client, entry.name)) and callable(getattr(AsyncClient, entry.name))
    assert (entry.group, entry.command) in COMMANDS or (entry.group, entry.command) in ELSEWHERE


def test_hand_written_requests_send_their_entrys_method_and_path() -> None:
    core = Core("http://h:1", email=None, api_key="k", timeout=1, retries=0, retry_delay=0)
    requests = {
        "schedule": core.schedule(
            "verify_credentials",
            "sql",
            account_data={},
            action_or_trigger=None,
            account_id=None,
            model_method=None,
            cfg=None,
            query=None,
            idempotency_key=None,
        ),
        "poll": core.poll("E1", 0),
        "result": core.result("E1", False),
        "cancel": core.cancel("E1"),
    }
    assert core.follow(Ready("E1", "http://h:1/v1/exec/result/E1"), False).url == requests["result"].url
    for entry in (e for e in OPERATIONS if e.custom):
        request = requests[entry.name]
        assert request.method == entry.method
        assert request.url == "http://h:1" + entry.path.replace("{execution_id}", "E1")


def test_a_generated_request_takes_path_parameters_in_order_and_query_in_snake_case() -> None:
    core = Core("http://h:1", email=None, api_key="k", timeout=1, retries=0, retry_delay=0)
    by_name = {e.name: e for e in OPERATIONS}
    request = core.operation(
        by_name["list_jobs"], (), {"job_definition_code": "a b", "limit": 5, "status": None}
    )
    assert (request.method, request.url) == ("GET", "http://h:1/v1/jobs?jobDefinitionCode=a+b&limit=5")
    request = core.operation(by_name["get_account"], ("x/../y",), {})
    assert request.url == "http://h:1/v1/accounts/x%2F..%2Fy"
    for args, keywords, message in [
        ((), {}, "takes 1 positional argument(s): account_id"),
        (("a",), {"limit": 1}, "unexpected keyword argument 'limit'"),
        (("a",), {"body": {}}, "takes no body"),
    ]:
        with pytest.raises(TypeError, match=re.escape(message)):
            core.operation(by_name["get_account"], args, keywords)
    with pytest.raises(TypeError, match="needs a body"):
        core.operation(by_name["create_account"], (), {})


@pytest.mark.parametrize("client", [Client, AsyncClient])
def test_the_clients_declare_exactly_the_generated_methods(client: type) -> None:
    declared = {name for name in client.__annotations__ if not name.startswith("_")}
    assert declared == {entry.name for entry in OPERATIONS if not entry.custom}
