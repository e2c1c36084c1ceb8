"""A definition's webhooks as data: sealed at rest (their URLs often carry tokens), masked
in answers like secret params, each delivery recorded on its job; and what delivers them
(:class:`WebhookSender`, over HTTP in api/webhooks.py)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

import msgspec

from connectord.runtime.jobs.definitions import (
    MAX_WEBHOOKS,
    DefinitionSpec,
    Options,
    Webhooks,
    stored_webhooks,
)
from connectord.runtime.jobs.secret_params import unmasked
from connectord.runtime.secrets import SecretBox
from connectord.runtime.store.records import JobRecord
from connectord.sandbox.redact import MASK

log = logging.getLogger(__name__)

#: The webhook lists, as API field names, and the job status each is sent for.
EVENTS = {"COMPLETED": "onCompletion", "FAILED": "onFailure"}


class Delivery(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    """How one webhook of a finished job was delivered. No URL: it may hold a token; the
    webhook is named by its place in the definition and its host."""

    webhook: str  #: e.g. ``onCompletion[0]``
    host: str
    event: str  #: ``job.completed`` or ``job.failed``
    outcome: Literal["delivered", "failed"]
    attempts: int
    status_code: int | None = None
    error: str | None = None


Recorder = Callable[[list[Delivery]], Awaitable[None]]


class WebhookSender(Protocol):
    """Delivers the webhooks of a job that is over, best effort and in the background."""

    def send(self, targets: list[tuple[str, str]], job: JobRecord, status: str, record: Recorder) -> None:
        """Deliver to each (name, URL) of ``targets`` that ``job`` ended ``status``, then
        hand ``record`` how each delivery went."""
        ...

    async def close(self) -> None:
        """Stop delivering (what is under way is given up)."""
        ...


def without_webhooks(spec: DefinitionSpec) -> DefinitionSpec:
    """The spec as its stored document keeps it: params and webhook URLs are sealed apart."""
    return msgspec.structs.replace(spec, params={}, options=_with(spec.options, Webhooks()))


def seal(box: SecretBox, webhooks: Webhooks) -> bytes | None:
    """The webhooks sealed; None when there are none."""
    if not (webhooks.on_completion or webhooks.on_failure):
        return None
    return box.seal_json(webhooks)


def opened(box: SecretBox, sealed: bytes | None, stored: DefinitionSpec) -> DefinitionSpec:
    """``stored`` (a decoded document) with its sealed webhooks; a document stored before
    webhooks were sealed keeps its own. Taken as stored: a definition an earlier version
    kept may have more URLs than clients may now send."""
    if sealed is None:
        return stored
    webhooks = stored_webhooks(box.open_json(sealed))
    return msgspec.structs.replace(stored, options=_with(stored.options, webhooks))


def masked(spec: DefinitionSpec) -> DefinitionSpec:
    """``spec`` with every webhook URL shown as MASK."""
    hooks = spec.options.webhooks
    shown = Webhooks([MASK] * len(hooks.on_completion), [MASK] * len(hooks.on_failure))
    return msgspec.structs.replace(spec, options=_with(spec.options, shown))


def unmask(merged: dict[str, Any], stored: Webhooks, field: str) -> dict[str, Any]:
    """A definition to store (JSON data) with each webhook URL sent as MASK replaced by
    the stored one at the same place; a MASK where none is stored is refused."""
    options = merged.get("options")
    if not isinstance(options, dict) or not isinstance(options.get("webhooks"), dict):
        return merged
    before = msgspec.to_builtins(stored)
    webhooks = unmasked(options["webhooks"], before, f"{field}.options.webhooks")
    return {**merged, "options": {**options, "webhooks": webhooks}}


def targets(webhooks: Webhooks, status: str) -> list[tuple[str, str]]:
    """The (name, URL) of each webhook a job ending in ``status`` calls: the first
    MAX_WEBHOOKS of its list (a definition stored before that limit may list more; the
    rest are not sent)."""
    name = EVENTS.get(status)
    if name is None:
        return []
    urls = webhooks.on_completion if status == "COMPLETED" else webhooks.on_failure
    if len(urls) > MAX_WEBHOOKS:
        log.warning(
            "%d webhooks %s of a definition stored before the limit: only the first %d are sent",
            len(urls), name, MAX_WEBHOOKS,
        )  # fmt: skip
    return [(f"{name}[{i}]", url) for i, url in enumerate(urls[:MAX_WEBHOOKS])]


_deliveries = msgspec.json.Decoder(list[Delivery])
#: How a stored document says it has no webhooks (every document written since they are sealed).
EMPTY_IN_DOCUMENT = b'"webhooks":' + msgspec.json.encode(Webhooks())


def encode_deliveries(deliveries: list[Delivery]) -> bytes:
    return msgspec.json.encode(deliveries)


def decode_deliveries(stored: bytes | None) -> list[Delivery]:
    return [] if stored is None else _deliveries.decode(stored)


def _with(options: Options, webhooks: Webhooks) -> Options:
    return msgspec.structs.replace(options, webhooks=webhooks)
