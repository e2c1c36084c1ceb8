"""``connectord serve`` with cProfile on its main thread (the event loop), counting CPU time
(``time.thread_time``), not wall time: waiting in epoll or on the disk costs nothing.

    python _profiled_serve.py OUT serve --port 0 ...

SIGUSR1 starts a new profile; SIGUSR2 stops it and writes its pstats to OUT. Used by
bench/server_profile.py around one batch; the other threads' CPU is read from /proc.
"""

from __future__ import annotations

import cProfile
import signal
import sys
import time
from types import FrameType

OUT = sys.argv[1]
profile: cProfile.Profile | None = None


def start(_signal: int, _frame: FrameType | None) -> None:
    global profile
    profile = cProfile.Profile(time.thread_time)
    profile.enable()  # a signal handler runs on the main thread: the one profiled


def stop(_signal: int, _frame: FrameType | None) -> None:
    if profile is not None:
        profile.disable()
        profile.dump_stats(OUT)


signal.signal(signal.SIGUSR1, start)
signal.signal(signal.SIGUSR2, stop)
sys.argv = ["connectord", *sys.argv[2:]]

from connectord.cli.main import main  # noqa: E402  (the handlers first: a signal may come early)

sys.exit(main())
