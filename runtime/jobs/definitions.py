"""A job definition as clients send it (seed 003's ``jobDefinition``), checked, with what
the scheduler derives from it. Pure: no store, no clock of its own.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from connectord.runtime.jobs import schedules, webhook_urls
from connectord.runtime.jobs.schedules import Schedule, ScheduleError, next_fire, parse_schedule
from connectord.runtime.validation import InvalidRequestError, convert

#: ``(?!\n)$``, not ``$``: msgspec matches with Python's ``re.search``, whose ``$`` also
#: matches before a final newline ("nl-code\n" would pass). In the OpenAPI document's
#: ECMA-262 regexes ``$`` is the end only, and the lookahead changes nothing.
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}(?!\n)$"
#: At most this many URLs in each of ``onCompletion`` and ``onFailure``: each is a POST the
#: server itself sends (up to three tries) whenever a job ends.
MAX_WEBHOOKS = 10
#: At most this many addresses in ``emailList``: the recipients RFC 5321 (§4.5.3.1.8) says
#: one message must be able to carry; each at most 254 characters (its longest address).
MAX_EMAILS = 100
MAX_EMAIL_LENGTH = 254
WebhookUrl = Annotated[str, msgspec.Meta(max_length=webhook_urls.MAX_URL_LENGTH)]
WebhookList = Annotated[list[WebhookUrl], msgspec.Meta(max_length=MAX_WEBHOOKS)]
#: No control character (a newline included: ``$`` alone would take one at the end).
PRINTABLE_PATTERN = r"^[^\x00-\x1f\x7f]*(?!\n)$"
Email = Annotated[str, msgspec.Meta(max_length=MAX_EMAIL_LENGTH, pattern=PRINTABLE_PATTERN)]
Overlap = Literal["skip", "queue", "allow"]
MisfirePolicy = Literal["fireOnce", "fireAll"]
FIELD = "jobDefinition"


class Webhooks(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """URLs that get a POST with the job's summary when a job ends."""

    on_completion: WebhookList = msgspec.field(default_factory=list)
    on_failure: WebhookList = msgspec.field(default_factory=list)


class Options(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """Seed 003's notification options (stored; e-mail is not sent) and webhooks."""

    skip_notification: bool = False
    send_completion_email: bool = False
    send_failure_email: bool = False
    email_list: Annotated[list[Email], msgspec.Meta(max_length=MAX_EMAILS)] = msgspec.field(
        default_factory=list
    )
    webhooks: Webhooks = msgspec.field(default_factory=Webhooks)


class DefinitionSpec(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """What a client says about a definition; defaults are what a definition gets when a
    field is left out."""

    job_definition_code: Annotated[str, msgspec.Meta(pattern=CODE_PATTERN)]
    job_type: str
    name: Annotated[str, msgspec.Meta(max_length=500)] = ""
    description: Annotated[str, msgspec.Meta(max_length=5000)] = ""
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    schedule: dict[str, Any] | None = None
    start_date: str | None = None
    end_date: str | None = None
    run_once: bool = False
    run_immediately: bool = False
    max_retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 0
    retry_backoff_seconds: Annotated[float, msgspec.Meta(gt=0, le=86400)] = 30.0
    timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=86400)] | None = None
    overlap: Overlap = "skip"
    misfire_policy: MisfirePolicy = "fireOnce"
    misfire_window_seconds: Annotated[float, msgspec.Meta(ge=1, le=366 * 86400)] = 3600.0
    account_id: str | None = None
    history_max_count: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 100
    history_max_age_days: Annotated[float, msgspec.Meta(gt=0, le=3650)] = 30.0
    options: Options = msgspec.field(default_factory=Options)


class Definition(msgspec.Struct, frozen=True):
    """A checked spec and what follows from it."""

    spec: DefinitionSpec
    schedule: Schedule | None
    start_at: float | None
    end_at: float | None

    @property
    def timezone(self) -> str:
        return self.schedule.timezone if self.schedule is not None else "UTC"

    def first_fire(self, now: float) -> float | None:
        """The first slot after ``now`` (at or after the start date), within the end date."""
        if self.schedule is None:
            return None
        after = now if self.start_at is None else max(now, self.start_at - 0.001)
        return self.slot_after(after)

    def slot_after(self, instant: float) -> float | None:
        """The first slot strictly after ``instant`` that is not past the end date."""
        if self.schedule is None:
            return None
        slot = next_fire(self.schedule, instant)
        if slot is None or (self.end_at is not None and slot > self.end_at):
            return None
        return slot


_spec_decoder = msgspec.json.Decoder(DefinitionSpec)


def parse_spec(raw: dict[str, Any]) -> Definition:
    """Check a definition given as JSON data (the value of ``jobDefinition``); raise
    InvalidRequestError naming the field (``jobDefinition.schedule.cron``, ...)."""
    try:
        spec = convert(raw, DefinitionSpec)
    except InvalidRequestError as error:
        raise InvalidRequestError(_prefixed(str(error)), f"{FIELD}.{error.field}") from None
    check_webhook_urls(spec.options.webhooks)
    return check_spec(spec)


def check_webhook_urls(webhooks: Webhooks) -> None:
    """Refuse a webhook URL that could not be sent to, naming it by its place
    (``jobDefinition.options.webhooks.onFailure[2]``). Only what clients send is checked:
    a definition stored before a check was added still runs, its delivery to such a URL
    recorded as failed."""
    for kind, urls in (("onCompletion", webhooks.on_completion), ("onFailure", webhooks.on_failure)):
        for i, url in enumerate(urls):
            problem = webhook_urls.problem(url)
            if problem is not None:
                # The URL is not repeated: it may hold a token.
                raise InvalidRequestError(
                    f"webhook URL {kind}[{i}] is not valid: {problem}",
                    f"{FIELD}.options.webhooks.{kind}[{i}]",
                )


def check_spec(spec: DefinitionSpec) -> Definition:
    schedule = None
    if spec.schedule is not None:
        try:
            schedule = parse_schedule(spec.schedule, "schedule")
        except ScheduleError as exc:
            raise InvalidRequestError(str(exc), f"{FIELD}.{exc.field}") from None
    zone = schedule.timezone if schedule is not None else "UTC"
    start_at = parse_instant(spec.start_date, zone, "startDate")
    end_at = parse_instant(spec.end_date, zone, "endDate")
    if start_at is not None and end_at is not None and end_at <= start_at:
        raise InvalidRequestError(
            f"endDate ({spec.end_date}) must be after startDate ({spec.start_date})", f"{FIELD}.endDate"
        )
    if spec.run_once and schedule is None and not spec.run_immediately:
        raise InvalidRequestError(
            "runOnce needs a schedule or runImmediately, or the definition would never run",
            f"{FIELD}.runOnce",
        )
    return Definition(spec, schedule, start_at, end_at)


def parse_instant(text: str | None, zone: str, name: str) -> float | None:
    """An ISO 8601 date-time (``T`` or a space between date and time); without an offset it
    is local time in the definition's time zone (a repeated local time is its first
    occurrence, a skipped one is refused)."""
    if text is None:
        return None
    try:
        return schedules.parse_instant(text, zone, f"{FIELD}.{name}")
    except ScheduleError as exc:
        raise InvalidRequestError(str(exc), exc.field) from None


def merge(current: DefinitionSpec, patch: dict[str, Any]) -> dict[str, Any]:
    """A PATCH: the given top-level fields replace the stored ones (``null`` clears an
    optional one); the code cannot change."""
    code = patch.get("jobDefinitionCode", current.job_definition_code)
    if code != current.job_definition_code:
        raise InvalidRequestError(
            f"jobDefinitionCode cannot change (it is '{current.job_definition_code}')",
            f"{FIELD}.jobDefinitionCode",
        )
    merged: dict[str, Any] = msgspec.to_builtins(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _prefixed(message: str) -> str:
    return message.replace("parameter '", f"field '{FIELD}.", 1) if "parameter '" in message else message


def encode_spec(spec: DefinitionSpec) -> bytes:
    return msgspec.json.encode(spec)


def decode_spec(document: bytes) -> DefinitionSpec:
    """A stored definition. One an earlier version stored may break a limit added since (a
    code ending in a newline, more webhooks or addresses, a longer URL): it is read as it
    was stored, not refused, so that it can still be listed, run, changed or deleted."""
    try:
        return _spec_decoder.decode(document)
    except msgspec.ValidationError:
        return _as_stored(msgspec.json.decode(document))


def stored_webhooks(data: Any) -> Webhooks:
    """Webhooks as stored (JSON data), without the limits on what clients send."""
    urls = msgspec.convert(data, dict[str, list[str]])
    return Webhooks(urls.get("onCompletion", []), urls.get("onFailure", []))


def _as_stored(raw: dict[str, Any]) -> DefinitionSpec:
    """The spec in ``raw`` with its code, e-mail list and webhooks taken as they are (a
    Struct's constructor and ``replace`` check no constraints; ``convert`` does)."""
    code = msgspec.convert(raw["jobDefinitionCode"], str)
    options = dict(raw.get("options") or {})
    emails = msgspec.convert(options.pop("emailList", []), list[str])
    hooks = stored_webhooks(options.pop("webhooks", {}))
    spec = msgspec.convert({**raw, "jobDefinitionCode": "stored", "options": options}, DefinitionSpec)
    options_ = msgspec.structs.replace(spec.options, email_list=emails, webhooks=hooks)
    return msgspec.structs.replace(spec, job_definition_code=code, options=options_)
