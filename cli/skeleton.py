"""The files of a new connector package (``connectord new connector``): a working example
whose tests and ``connectord check`` pass as generated, to be changed into the real thing.

Templates use ``{{name}}`` (the connector id), ``{{module}}`` (its Python module),
``{{title}}`` and ``{{version}}`` (connectord's): plain replacement, so the Python and
JSON braces inside need no escaping.
"""

from __future__ import annotations

PYPROJECT = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "connectord-{{name}}"
version = "0.1.0"
description = "{{title}}: a connector for connectord."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["connectord>={{version}}"]

[project.optional-dependencies]
test = ["pytest>=8"]

# The entry point's name is the connector's id.
[project.entry-points."connectord.connectors"]
{{name}} = "{{module}}"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
testpaths = ["tests"]
# connectord_sandbox = true   # run connectord_harness calls in the real sandbox
"""

README = """\
# connectord-{{name}}

{{title}}: a [connectord](https://pypi.org/project/connectord/) connector.

```sh
pip install -e '.[test]'            # into connectord's environment
pytest                               # its tests, calling the hooks in this process
pytest --connectord-sandbox          # the same tests, each call in the real sandbox
connectord check {{name}} --credentials '{"api_key": "ak_example_key_1"}' \\
    --bad-credentials '{"api_key": "wrong_key_1"}'
connectord call {{name}} select_model --action add_item --method lists \\
    --credentials '{"api_key": "ak_example_key_1"}' --search 7 --debug
```

`src/{{module}}/__init__.py` holds the hooks; the example pretends a service with 120
lists accepts any API key starting with `ak_`. Replace it with calls to the real service
(through `connectord.http_session()`, which follows the server's egress policy).

- `describe_connector()`: what the connector offers. Secret credential fields are marked
  `"secret": true` (masked everywhere); a config field naming its dropdown with
  `"x-model": METHOD` gets its options from `select_model`.
- `verify_credentials(credentials)`: `connectord.verified()` or
  `connectord.not_verified(kind, message, field)`; raise only when the check itself failed.
- `select_model(action, method, credentials, cfg, query)`: one page of options;
  `query` is a `connectord.SelectQuery` (`query.search`, `query.cursor`, `query.limit`),
  not a dict.
- `get_meta_model(action, credentials, cfg)`: the JSON schemas of the node's input and output.
- `run_job(job_type, params, credentials)`: a job type's work.
"""

MODULE = '''\
"""{{title}}: a connectord connector.

An example to change into the real thing: a pretend service with 120 lists that accepts any
API key starting with ``ak_``. Each hook takes only the arguments it needs.
"""

from __future__ import annotations

import connectord

LISTS = [connectord.Option(value=str(n), label=f"List {n}") for n in range(1, 121)]

SYNC = connectord.JobType(
    code="{{module}}.sync",
    title="Sync a list",
    needs_account=True,
    params_schema={
        "type": "object",
        "required": ["list"],
        "properties": {"list": {"type": "string", "title": "List", "x-model": "lists"}},
        "additionalProperties": False,
    },
)


@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(
        id="{{name}}",
        title="{{title}}",
        version="0.1.0",
        credentials_schema={
            "type": "object",
            "required": ["api_key"],
            "properties": {"api_key": {"type": "string", "title": "API key", "secret": True}},
            "additionalProperties": False,
        },
        actions=[
            connectord.Operation(
                name="add_item",
                title="Add an item to a list",
                dynamic_metadata=True,
                model_methods=["lists"],
                config_schema={
                    "type": "object",
                    "required": ["list"],
                    "properties": {"list": {"type": "string", "title": "List", "x-model": "lists"}},
                },
            )
        ],
        job_types=[SYNC],
    )


@connectord.hookimpl
def verify_credentials(credentials):
    if credentials["api_key"].startswith("ak_"):
        return connectord.verified()
    return connectord.not_verified("auth", "the service refused the API key", field="api_key")


@connectord.hookimpl
def select_model(method, query):
    if method != "lists":
        raise connectord.ConfigError(f"unknown model method {method}", "method")
    found = [o for o in LISTS if not query.search or query.search.lower() in o.label.lower()]
    start = int(query.cursor or 0)
    end = start + query.limit
    return connectord.SelectResult(
        options=found[start:end], next_cursor=str(end) if end < len(found) else None
    )


@connectord.hookimpl
def get_meta_model(action, cfg):
    return connectord.MetaModel(
        in_={
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}},
        },
        out={"type": "object", "properties": {"id": {"type": "string"}, "list": {"const": cfg["list"]}}},
    )


@connectord.hookimpl
def run_job(job_type, params):
    return connectord.JobResult(data={"list": params["list"], "synced": 3}, outputs={"synced": 3})
'''

TESTS = '''\
"""Tests of the {{name}} connector through connectord's pytest plugin: each call goes through
the server's own checks (in this process; ``pytest --connectord-sandbox`` for the sandbox)."""

import pytest

from connectord.testing import CallFailed

GOOD = {"api_key": "ak_example_key_1"}


@pytest.fixture
def connector(connectord_harness):
    return connectord_harness("{{name}}")


def test_good_credentials_are_verified_and_bad_ones_refused(connector):
    assert connector.verify_credentials(GOOD)["verified"] is True
    refused = connector.verify_credentials({"api_key": "wrong_key_1"})
    assert refused["verified"] is False
    assert refused["failure"] == {"kind": "auth", "field": "api_key"}


def test_lists_page_through_every_option_once(connector):
    seen, cursor = [], None
    while True:
        page = connector.select_model("add_item", "lists", GOOD, limit=50, cursor=cursor)
        seen += [option["value"] for option in page["options"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 120


def test_lists_can_be_searched(connector):
    page = connector.select_model("add_item", "lists", GOOD, search="List 11")
    assert [option["label"] for option in page["options"]][:2] == ["List 11", "List 110"]


def test_the_meta_model_follows_the_chosen_list(connector):
    meta = connector.get_meta_model("add_item", GOOD, {"list": "7"})
    assert meta["out"]["properties"]["list"] == {"const": "7"}
    assert meta["in"]["required"] == ["name"]


def test_a_failure_shows_the_connectors_own_traceback(connector):
    with pytest.raises(CallFailed) as failed:
        connector.select_model("add_item", "lists", GOOD, cursor="not-a-cursor")
    assert "ValueError" in str(failed.value)
    assert "start = int(query.cursor or 0)" in str(failed.value)  # the line that raised


def test_the_sync_job_runs(connector):
    result = connector.run_job("{{module}}.sync", {"list": "3"}, GOOD)
    assert result == {"data": {"list": "3", "synced": 3}, "outputs": {"synced": 3}}


def test_through_a_live_server(connectord_server):
    with connectord_server.client() as client:
        execution = client.schedule("verify_credentials", "{{name}}", account_data=GOOD)
        assert client.wait(execution.id, timeout=60)["verified"] is True
'''


def files(name: str, title: str, version: str) -> dict[str, str]:
    """The package's files by relative path, filled in for connector ``name``."""
    module = f"{name.replace('-', '_')}_connector"
    values = {"name": name, "module": module, "title": title, "version": version}
    templates = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"src/{module}/__init__.py": MODULE,
        f"tests/test_{module}.py": TESTS,
    }
    return {path: _fill(text, values) for path, text in templates.items()}


def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", value)
    return template
