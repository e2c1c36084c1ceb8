"""A small, well-behaved connector for the exec API tests; copied into a temporary site
directory with an entry point, never imported by the test process itself."""

import logging
import time
import urllib.request

import connectord

log = logging.getLogger("echo")


@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(
        id="echo",
        title="Echo",
        version="1",
        credentials_schema={
            "type": "object",
            "properties": {"token": {"type": "string", "secret": True}, "mode": {"type": "string"}},
        },
        actions=[
            connectord.Operation(name="put", title="Put", dynamic_metadata=True, model_methods=["colors"]),
            connectord.Operation(
                name="get", title="Get", dynamic_metadata=True, cache_seconds={"get_meta_model": 60}
            ),
            connectord.Operation(
                name="post", title="Post", dynamic_metadata=True, model_methods=["colors"],
                config_schema={
                    "type": "object", "required": ["title"],
                    "properties": {"title": {"type": "string", "minLength": 1}},
                },
            ),
        ],
    )


@connectord.hookimpl
def verify_credentials(credentials):
    mode = credentials.get("mode")
    log.info("verifying with token %s", credentials.get("token"))
    if mode == "sleep":
        time.sleep(60)
    if mode == "slow":
        time.sleep(2)
    if mode == "fetch":  # waits on the network: the test's endpoint answers when it chooses
        with urllib.request.urlopen(credentials["url"], timeout=60) as answer:
            return connectord.verified(answer.read().decode())
    if mode == "raise":
        raise RuntimeError(f"upstream refused token {credentials.get('token')}")
    if mode == "config":  # a careless connector names the value, not the field
        raise connectord.ConfigError("the token is malformed", field=credentials.get("token"))
    return connectord.verified(f"token of {len(credentials.get('token', ''))} characters")


@connectord.hookimpl
def select_model(method, cfg, query):
    colors = ["red", "green", "blue"]
    return connectord.SelectResult(
        options=[connectord.Option(value=c, label=c.title()) for c in colors if (query.search or "") in c]
    )


@connectord.hookimpl
def get_meta_model(action, credentials, cfg):
    out = {"type": "object"}
    if action == "get":
        out["x-made-at"] = time.time_ns()  # tells a cached answer from a fresh one
    return {"in": {"type": "object", "title": cfg.get("title", "in")}, "out": out}
