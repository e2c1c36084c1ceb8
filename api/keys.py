"""Typed keys for what the application holds (aiohttp's AppKey), in one place: the node it
serves, and the node's parts the handlers use."""

from collections.abc import Callable

from aiohttp import web

from connectord.runtime.accounts import Accounts
from connectord.runtime.config import Settings
from connectord.runtime.executions.service import Executions
from connectord.runtime.jobs.service import Jobs
from connectord.runtime.metrics import Metrics
from connectord.runtime.node import Connectors, Node
from connectord.runtime.secrets import SecretBox
from connectord.runtime.store import Store
from connectord.runtime.store.records import Principal
from connectord.runtime.store.runner import StoreRunner

NODE = web.AppKey("node", Node)
SETTINGS = web.AppKey("settings", Settings)
CONNECTORS = web.AppKey("connectors", Connectors)
STORE = web.AppKey("store", Store)
STORE_RUNNER = web.AppKey("store_runner", StoreRunner)
EXECUTIONS = web.AppKey("executions", Executions)
ACCOUNTS = web.AppKey("accounts", Accounts)
JOBS = web.AppKey("jobs", Jobs)
SECRET_BOX = web.AppKey("secret_box", SecretBox)
#: Everything in the app reads time from here (the store's clock on a cluster).
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
METRICS = web.AppKey("metrics", Metrics)
PRINCIPAL = web.RequestKey("principal", Principal)
