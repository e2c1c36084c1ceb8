"""The trivial task bench/peers.py gives Celery and RQ: what connectord's no-op connector
answers to ``verify_credentials``. Imported by their workers (PYTHONPATH is bench/) and by
the benchmark's clients; the brokers' URLs come from PEERS_REDIS and PEERS_DURABLE_REDIS."""

from __future__ import annotations

import os

from celery import Celery

BROKER = os.environ.get("PEERS_REDIS", "redis://127.0.0.1:6379/7")
QUEUE = os.environ.get("PEERS_QUEUE", "connectord-peers")


def rq_verify() -> dict[str, bool]:
    """The task (RQ runs it by this name)."""
    return {"verified": True}


app = Celery("peers", broker=BROKER, backend=BROKER)
app.conf.update(task_default_queue=QUEUE, result_expires=3600, broker_connection_retry_on_startup=True)
celery_verify = app.task(name="peers.verify")(rq_verify)


def durable_app(url: str) -> Celery:
    """Celery set up to lose nothing it accepted, as connectord promises: a task is
    acknowledged after it ran, not when a worker takes it, so what a worker that died had
    taken runs again (with Redis, after the visibility timeout); its broker (``url``) keeps
    an append-only file."""
    durable = Celery("peers_durable", broker=url, backend=url)
    durable.conf.update(
        task_default_queue=QUEUE,
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
    )
    durable.task(name="peers.verify")(rq_verify)
    return durable


#: The app of a worker of bench/peers.py's "Celery durable" (``-A _peer_tasks:durable``).
durable = durable_app(os.environ.get("PEERS_DURABLE_REDIS", BROKER))
