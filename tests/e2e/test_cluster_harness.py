"""The cluster harness drives a real ``connectord serve``: here one node on the embedded
SQLite store, running a call through the exec API as seed 001's clients do."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .cluster import Cluster, request


def test_one_sqlite_node_runs_an_execution(cluster: Callable[..., Cluster]) -> None:
    group = cluster(1)
    (node,) = group.nodes
    assert node.url.startswith("http://127.0.0.1:")
    assert node.store_url == f"sqlite:///{node.data_dir / 'connectord.sqlite3'}"
    auth = ("ops@acme.test", group.add_user("ops@acme.test", tenant="acme"))

    scheduled = request(
        node.url,
        "POST",
        "/v1/exec/schedule",
        auth=auth,
        body={"execution_type": "verify_credentials", "component": "echo", "account_data": {"token": "t"}},
    )
    assert scheduled.status == 202, scheduled.body
    execution_id = scheduled.location.rsplit("/", 1)[1]
    assert scheduled.location == f"{node.url}/v1/exec/poll/{execution_id}"

    polled = request(node.url, "GET", f"/v1/exec/poll/{execution_id}?wait=20", auth=auth)
    assert polled.status == 303, polled.body
    assert polled.location.endswith(f"/v1/exec/result/{execution_id}")
    result = request(node.url, "GET", f"/v1/exec/result/{execution_id}", auth=auth)
    assert result.status == 200, result.body
    assert result.body["data"]["verified"] is True
    assert request(node.url, "GET", f"/v1/exec/result/{execution_id}", auth=auth).status == 404  # once

    assert node.terminate() == 0
    assert "connectord stopped" in node.stderr_text()


def test_a_node_that_cannot_start_fails_with_its_stderr(cluster: Callable[..., Cluster]) -> None:
    with pytest.raises(AssertionError) as failed:
        cluster(1, store_url="mysql://nowhere/db")
    message = str(failed.value)
    assert "connectord node node0 exited with code" in message
    assert "unsupported scheme 'mysql'" in message  # the node's own stderr
