"""How each connector is run: isolation level, limits and deadlines, with defaults.

Pure data; the configuration file and flags fill it (see runtime/config).
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

import msgspec

from connectord.sandbox.calls import Method
from connectord.sandbox.protocol import Limits
from connectord.sandbox.user_ids import parse_range

Isolation = Literal["per-call", "pooled"]

DEFAULT_TIMEOUTS: dict[str, float] = {
    "verify_credentials": 30.0,
    "select_model": 30.0,
    "get_meta_model": 30.0,
    # A job does a unit of work on its own (an export, a call), not a dropdown someone waits for.
    "run_job": 300.0,
}


Seconds = Annotated[float, msgspec.Meta(gt=0, le=24 * 3600)]
Count = Annotated[int, msgspec.Meta(ge=0)]

#: What a running call may cost beyond its ``memory_bytes``: its cgroup's allowance for the
#: zygote pages it copies (10 MB for a trivial connector's zygote, 26 MB shared), the
#: worker's kernel objects and the supervisor's share of it.
SLOT_OVERHEAD_BYTES = 32 * 1024 * 1024
#: Memory kept for the server, its zygotes and the store before slots are counted.
RESERVED_BYTES = 512 * 1024 * 1024
#: Most slots the memory bound gives, however large the host: each running call is a
#: process with a socket and open cgroup files, and the dispatcher claims 64 at a time.
MAX_DERIVED_SLOTS = 64


class ConnectorPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    isolation: Isolation = "per-call"
    limits: Limits = Limits()
    #: Seconds per method; a method not named uses DEFAULT_TIMEOUTS.
    timeouts: dict[Method, Seconds] = msgspec.field(default_factory=dict)
    #: Pooled workers: recycle after this many calls or above this resident size.
    max_calls_per_worker: Annotated[int, msgspec.Meta(ge=1)] = 1000
    max_rss_bytes: Annotated[int, msgspec.Meta(ge=1)] = 512 * 1024 * 1024
    #: Its zygote starts with the server (and again should it die), is never stopped for
    #: being unused, and, per-call, has a worker forked ahead: its first call waits for no
    #: import (about 90 ms for a trivial connector). It costs the zygote's and the spare's
    #: memory while nobody calls.
    warm: bool = False

    def timeout_for(self, method: Method) -> float:
        return self.timeouts.get(method, DEFAULT_TIMEOUTS.get(method, 30.0))


class SandboxPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    #: Concurrent invocations; 0: as many as the memory this server may use allows, each
    #: call counted at its ``memory_bytes`` (``derived_concurrency``). A call waiting on the
    #: network needs no core, so cores do not bound it.
    concurrency: Count = 0
    #: How many of those one (tenant, connector) may hold; 0 means all but one, so a
    #: connector whose calls all hang cannot take every slot.
    per_connector: Count = 0
    #: Seconds between SIGTERM and SIGKILL once a deadline has passed.
    grace: Seconds = 0.5
    #: Seconds a connector's import may take; one that hangs is reported as not loaded.
    import_timeout: Seconds = 20.0
    #: A connector's own zygote stops after this long without a call of that connector
    #: (and with none of its workers running); its next call starts it again.
    zygote_idle_seconds: Seconds = 600.0
    #: A user id of its own for each connector's processes (sandbox/user_ids.py): "auto"
    #: (the default) wherever the server runs as root, True required, False off, or
    #: "START-END" (required, from these ids). The host resolves it to False or a range.
    user_ids: bool | str = "auto"
    #: Per-call isolation: after each call, fork the connector's next worker ahead (it
    #: confines itself and waits, having run nothing), so a call does not wait for a fork.
    #: One per connector called since its zygote started; it goes with the zygote.
    spare_workers: bool = True
    default: ConnectorPolicy = ConnectorPolicy()
    connectors: dict[str, ConnectorPolicy] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.user_ids, str) and self.user_ids != "auto":
            parse_range(self.user_ids)  # its ValueError names the setting

    def capacity(self) -> int:
        """Concurrent invocations; with ``concurrency`` 0 and no memory known (a policy
        not resolved for a host), the number of cores (at least 2)."""
        return self.concurrency or max(2, os.cpu_count() or 1)

    def slots_per_connector(self) -> int:
        """What one (tenant, connector), and one connector, may hold of ``capacity``."""
        capacity = self.capacity()
        return min(self.per_connector or max(1, capacity - 1), capacity)

    def derived_concurrency(self, memory_allowed: int | None, cores: int) -> int:
        """Slots for ``concurrency = 0``: as many calls as fit in ``memory_allowed`` (the
        host's memory, or its cgroup's limit) less ``RESERVED_BYTES``, each taking the
        largest ``memory_bytes`` of any connector plus ``SLOT_OVERHEAD_BYTES``; at least the
        number of cores (at least 2), at most ``MAX_DERIVED_SLOTS``. A connector without a
        memory limit, or a host whose memory is unknown, leaves only the cores to go by."""
        floor = max(2, cores)
        limits = [
            self.default.limits.memory_bytes,
            *(p.limits.memory_bytes for p in self.connectors.values()),
        ]
        if memory_allowed is None or None in limits:
            return floor
        slot = max(limit for limit in limits if limit is not None) + SLOT_OVERHEAD_BYTES
        fitting = max(0, memory_allowed - RESERVED_BYTES) // slot
        return max(floor, min(MAX_DERIVED_SLOTS, fitting))

    def for_connector(self, connector: str) -> ConnectorPolicy:
        return self.connectors.get(connector, self.default)

    def hiding(self, paths: list[str]) -> SandboxPolicy:
        """This policy with ``paths`` hidden from every connector's workers as well."""

        def hide(policy: ConnectorPolicy) -> ConnectorPolicy:
            hidden = [*policy.limits.hidden_paths, *(p for p in paths if p not in policy.limits.hidden_paths)]
            return msgspec.structs.replace(
                policy, limits=msgspec.structs.replace(policy.limits, hidden_paths=hidden)
            )

        return msgspec.structs.replace(
            self, default=hide(self.default), connectors={k: hide(v) for k, v in self.connectors.items()}
        )
