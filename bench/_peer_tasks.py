"""The trivial task bench/peers.py gives Celery and RQ: what connectord's no-op connector
answers to ``verify_credentials``. Imported by their workers (PYTHONPATH is bench/) and by
the benchmark's clients; the broker's URL comes from PEERS_REDIS."""

from __future__ import annotations

import os

from celery import Celery

BROKER = os.environ.get("PEERS_REDIS", "redis://127.0.0.1:6379/7")
QUEUE = os.environ.get("PEERS_QUEUE", "connectord-peers")

app = Celery("peers", broker=BROKER, backend=BROKER)
app.conf.update(task_default_queue=QUEUE, result_expires=3600, broker_connection_retry_on_startup=True)


@app.task(name="peers.verify")
def celery_verify() -> dict[str, bool]:
    return {"verified": True}


def rq_verify() -> dict[str, bool]:
    return {"verified": True}
