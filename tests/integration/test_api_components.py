"""The HTTP API on a real loopback server (pytest-aiohttp's test server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

import connectord
from connectord.api.app import create_app
from connectord.plugins.manager import Catalog, PluginSource, Selection, load_connectors
from connectord.runtime.config import Settings
from connectord.runtime.node import Node
from connectord.runtime.secrets import load_secret_box
from connectord.runtime.store import open_store


class Tiny:
    @connectord.hookimpl
    def describe_connector(self) -> connectord.ConnectorInfo:
        return connectord.ConnectorInfo(
            id="tiny",
            title="Tiny",
            version="0.1",
            credentials_schema={"type": "object", "properties": {"key": {"type": "string", "secret": True}}},
            actions=[connectord.Operation(name="send", title="Send")],
        )


def broken() -> object:
    raise SyntaxError("invalid syntax (tiny2.py, line 3)")


class LoadedHere:
    """Connectors loaded in the test process: the API only needs their catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    settings = Settings(data_dir=tmp_path, node_id="api-7")
    registry = load_connectors(
        Selection(builtins=False, entry_points=False),
        [PluginSource("tiny", "test tiny", Tiny), PluginSource("broken", "test broken", broken)],
    )
    box = load_secret_box(tmp_path, None)
    return await aiohttp_client(
        create_app(Node(settings, LoadedHere(registry.catalog()), open_store(settings), box))
    )


async def test_health(client: TestClient) -> None:
    response = await client.get("/health")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok" and body["store"] == "ok"
    assert body["connectors"] == {"loaded": 1, "failed": 1}
    assert body["node"] == "api-7"  # which node of a cluster answered


async def test_components_list_descriptions_and_load_errors(client: TestClient) -> None:
    response = await client.get("/v1/components")
    assert response.status == 200
    body = await response.json()
    [tiny] = body["data"]
    assert tiny["id"] == "tiny" and tiny["origin"] == "test tiny"
    assert tiny["credentials_schema"]["properties"]["key"]["secret"] is True
    assert tiny["actions"] == [{"name": "send", "title": "Send"}]
    assert body["errors"] == [
        {
            "id": "broken",
            "origin": "test broken",
            "reason": "import failed: SyntaxError: invalid syntax (tiny2.py, line 3)",
        }
    ]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/v1/components/tiny", 200, None),
        ("/v1/components/nope", 404, "component 'nope' is not installed"),
        ("/v1/components/broken", 404, "component 'broken' failed to load: import failed: SyntaxError"),
        ("/v1/components/Bad%20Id", 400, "component id 'Bad Id' is not valid"),
        ("/v1/nothing-here", 404, "Not Found"),
    ],
)
async def test_one_component_and_clear_errors(
    client: TestClient, path: str, status: int, message: str | None
) -> None:
    response = await client.get(path)
    assert response.status == status
    assert response.content_type == "application/json"
    body = await response.json()
    if message is None:
        assert body["id"] == "tiny"
    else:
        assert message in body["message"]


async def test_wrong_method_is_json_405_with_allow(client: TestClient) -> None:
    response = await client.post("/v1/components")
    assert response.status == 405
    assert "GET" in response.headers["Allow"].split(",")
    assert (await response.json())["message"] == "Method Not Allowed"
