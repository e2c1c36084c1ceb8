"""What every service of a node works with, built once by the node (runtime/node.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from connectord.runtime.metrics import Metrics
from connectord.runtime.secrets import SecretBox
from connectord.runtime.store import Store
from connectord.runtime.store.runner import StoreRunner
from connectord.sandbox.supervisor import Supervisor


@dataclass(frozen=True)
class Parts:
    store: Store
    #: Runs the store's calls off the event loop.
    run: StoreRunner
    #: Seals and opens what is kept secret at rest.
    box: SecretBox
    #: The sandbox every call and job runs in.
    supervisor: Supervisor
    #: What time it is (the store's on a cluster): passed in, so tests can move it.
    clock: Callable[[], float]
    metrics: Metrics
