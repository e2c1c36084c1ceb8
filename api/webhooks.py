"""Webhooks over HTTP: a POST with the job's summary (as ``GET /v1/jobs`` shows it) to each
URL a definition names, when a job completes or fails. Best effort: a slow or failing
receiver is logged, never retried forever, and never holds up the job or the scheduler.
Each connection follows the egress policy (plugins/egress_policy.py): the server itself
sends these, so a URL of this machine or of an internal network is refused unless
``[egress] allow`` permits it. How each was delivered is handed to ``record`` (kept on the
job): whatever goes wrong with one URL (one an earlier version stored without the checks of
runtime/jobs/webhook_urls.py, say) is a failed delivery of that URL, never an exception that
loses the others' records."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from connectord.api.job_views import job_view
from connectord.plugins.egress_http import checked_session
from connectord.plugins.egress_policy import EgressPolicy, EgressRefused
from connectord.runtime.config import Settings
from connectord.runtime.jobs import webhook_urls
from connectord.runtime.jobs.webhooks import Delivery, Recorder
from connectord.runtime.store.records import JobRecord

log = logging.getLogger(__name__)

TIMEOUT = 10.0
ATTEMPTS = 3
#: Connections one tenant's deliveries may hold at once: each tenant has a pool of its own,
#: since a request's timeout counts its wait for a connection (one tenant's webhooks to a
#: receiver that never answers took a shared pool of 100, and another's timed out).
CONNECTIONS_PER_TENANT = 20


class HttpWebhooks:
    """The :class:`~connectord.runtime.jobs.webhooks.WebhookSender` of a node that serves
    the API."""

    def __init__(
        self, policy: EgressPolicy | None = None, timeout: float = TIMEOUT, attempts: int = ATTEMPTS
    ) -> None:
        self.policy = policy or EgressPolicy()
        self.timeout = timeout
        self.attempts = attempts
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def of(cls, settings: Settings) -> HttpWebhooks:
        """The sender of a node with ``settings``: its egress policy (``[egress] allow``)."""
        return cls(EgressPolicy.parse(settings.egress_allow))

    def send(self, targets: list[tuple[str, str]], job: JobRecord, status: str, record: Recorder) -> None:
        """Deliver to each (name, URL) in the background, then ``record`` how it went."""
        payload = {"event": f"job.{status.lower()}", "job": job_view(job, with_logs=False)}
        task = asyncio.ensure_future(self._deliver_all(job.tenant_id, targets, payload, record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for deliveries under way (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()

    async def _deliver_all(
        self, tenant: str, targets: list[tuple[str, str]], payload: dict[str, Any], record: Recorder
    ) -> None:
        session = self._session(tenant)
        results = await asyncio.gather(
            *(self._deliver(session, name, url, payload) for name, url in targets), return_exceptions=True
        )
        deliveries = [
            result if isinstance(result, Delivery) else _crashed(name, payload, result)
            for (name, _), result in zip(targets, results, strict=True)
        ]
        try:
            await record(deliveries)
        except Exception as exc:  # best effort: the job itself is recorded already
            log.warning("webhook deliveries of job %s not recorded: %s", payload["job"]["jobId"], exc)

    def _session(self, tenant: str) -> aiohttp.ClientSession:
        session = self._sessions.get(tenant)
        if session is None:
            session = self._sessions[tenant] = checked_session(
                self.policy,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                cookie_jar=aiohttp.DummyCookieJar(),
                connector_options={"limit": CONNECTIONS_PER_TENANT},
            )
        return session

    async def _deliver(
        self, session: aiohttp.ClientSession, name: str, url: str, payload: dict[str, Any]
    ) -> Delivery:
        event = payload["event"]
        invalid = webhook_urls.problem(url)
        if invalid is not None:  # stored before the URL was checked: not sent
            log.warning(
                "webhook %s of job %s not sent: its URL is not valid: %s",
                name,
                payload["job"]["jobId"],
                invalid,
            )
            return Delivery(name, "", event, "failed", 1, None, f"invalid URL: {invalid}")
        host = webhook_urls.host_of(url)
        status: int | None = None
        attempt = 0
        for attempt in range(1, self.attempts + 1):
            try:
                async with session.post(url, json=payload, allow_redirects=False) as response:
                    status = response.status
                    if status < 300:
                        return Delivery(name, host, event, "delivered", attempt, status)
                    problem = f"HTTP {status}"
                    if status < 500:
                        break  # the receiver refuses it; asking again will not help
            except EgressRefused as exc:
                problem = str(exc)
                break  # the policy will not change its mind
            except aiohttp.InvalidURL as exc:  # its text is the URL
                status, problem = None, type(exc).__name__
                break
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, problem = None, type(exc).__name__  # its text may repeat the URL
            except Exception as exc:  # a URL the client refuses, say: asking again will not help
                status, problem = None, type(exc).__name__
                break
            if attempt < self.attempts:
                await asyncio.sleep(attempt)
        # Name and host only: the path and query of a webhook URL often hold its token.
        log.warning("webhook %s (%s) of job %s failed: %s", name, host, payload["job"]["jobId"], problem)
        return Delivery(name, host, event, "failed", attempt, status, problem)


def _crashed(name: str, payload: dict[str, Any], error: BaseException) -> Delivery:
    """The record of a delivery that ended in an exception ``_deliver`` did not expect."""
    log.warning("webhook %s of job %s failed: %s", name, payload["job"]["jobId"], type(error).__name__)
    return Delivery(name, "", payload["event"], "failed", 1, None, type(error).__name__)
