"""Typed keys for what the application holds (aiohttp's AppKey), in one place."""

from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from connectord.plugins.manager import Catalog
from connectord.runtime.accounts import Accounts
from connectord.runtime.cluster import Node
from connectord.runtime.config import Settings
from connectord.runtime.executions.service import Executions
from connectord.runtime.jobs.service import Jobs
from connectord.runtime.metrics import Metrics
from connectord.runtime.secrets import SecretBox
from connectord.runtime.store import Store
from connectord.runtime.store.records import Principal
from connectord.runtime.store.runner import StoreRunner


class Connectors(Protocol):
    """Where the API learns which connectors exist: the sandbox supervisor in a server
    (its zygote loaded them; this process never imports connector code)."""

    @property
    def catalog(self) -> Catalog: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


SETTINGS = web.AppKey("settings", Settings)
CONNECTORS = web.AppKey("connectors", Connectors)
STORE = web.AppKey("store", Store)
STORE_RUNNER = web.AppKey("store_runner", StoreRunner)
EXECUTIONS = web.AppKey("executions", Executions)
ACCOUNTS = web.AppKey("accounts", Accounts)
JOBS = web.AppKey("jobs", Jobs)
SECRET_BOX = web.AppKey("secret_box", SecretBox)
NODE = web.AppKey("node", Node)
#: Everything in the app reads time from here (the store's clock on a cluster).
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
METRICS = web.AppKey("metrics", Metrics)
PRINCIPAL = web.RequestKey("principal", Principal)
