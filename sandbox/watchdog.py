"""What ends a supervisor's connector processes when it ends however it ends (``kill -9``,
a crash, the OOM killer), not only by its own clean-up.

Each zygote is told to die with the supervisor (PR_SET_PDEATHSIG) and to kill what its
workers started when it does, but that is the zygote's own code, and its connector's import
code runs in the same process: it cleared the signal and replaced the handler, and a zygote
went on running as the connector's user, under init, after a ``kill -9`` of the server. The
watchdog is a small process of the server's (connectord's code only, no connector's), in a
session of its own, that waits for the end of a pipe only the supervisor holds; at that end
it kills every process in the supervisor's cgroups (each zygote's and worker's leaf, each
connector's cpu group) and removes them. A supervisor that closes normally has emptied them
already and closes the pipe: the watchdog finds nothing and exits.

Started with ``-I -S`` and the server's import path (as a zygote is, sandbox/zygote_client.py),
with an empty environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from connectord.sandbox.cgroups import sweep

BOOTSTRAP = (
    "import json, sys; start = json.loads(sys.argv[1]); sys.path[:] = start['path']; "
    "from connectord.sandbox.watchdog import main; main(start['roots'])"
)
#: How long the sweep keeps killing what a forking process makes meanwhile.
SWEEP_SECONDS = 10.0


def start(roots: list[Path], import_path: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A watchdog of ``roots``; it sweeps them once its stdin, which only the caller holds
    (close-on-exec), reaches its end."""
    start = json.dumps({"path": import_path, "roots": [str(root) for root in roots]})
    return subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", BOOTSTRAP, start],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
        close_fds=True,
        start_new_session=True,  # a Ctrl-C to the server's terminal is not for it
    )


def main(roots: list[str]) -> None:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)  # only the pipe's end makes it act
    with contextlib.suppress(OSError):
        while os.read(0, 4096):
            pass
    deadline = time.monotonic() + SWEEP_SECONDS
    for root in roots:
        sweep(Path(root), deadline)
