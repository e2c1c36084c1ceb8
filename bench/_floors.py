"""The floors bench/sandbox.py compares connectord with, run in a small separate process.

Run as ``python -I _floors.py fork|worker CALLS CALLERS``: prints one JSON object with
per-call latencies (µs). Standard library only, so the parent stays small, as a zygote
with nothing imported would be.
"""

import json
import os
import sys
import threading
import time


def fork_call() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, b"k")
        os._exit(0)
    os.close(write)
    os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)


def persistent_worker() -> tuple[int, int, int]:
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        # Keep only our two ends: a copy of another worker's pipe would keep it from
        # ever seeing EOF.
        os.dup2(to_child_r, 100)
        os.dup2(from_child_w, 101)
        os.closerange(3, 100)
        while os.read(100, 1):
            os.write(101, b"k")
        os._exit(0)
    os.close(to_child_r)
    os.close(from_child_w)
    return pid, to_child_w, from_child_r


def run(kind: str, calls: int, callers: int) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()

    def caller(count: int) -> None:
        own: list[float] = []
        if kind == "worker":
            pid, send, receive = persistent_worker()
        for _ in range(count):
            started = time.perf_counter()
            if kind == "fork":
                fork_call()
            else:
                os.write(send, b"r")
                os.read(receive, 1)
            own.append((time.perf_counter() - started) * 1e6)
        if kind == "worker":
            os.close(send)
            os.waitpid(pid, 0)
        with lock:
            latencies.extend(own)

    threads = [threading.Thread(target=caller, args=(calls // callers,)) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def main() -> None:
    kind, calls, callers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    run(kind, min(200, calls), callers)  # warm up
    started = time.perf_counter()
    latencies = run(kind, calls, callers)
    print(json.dumps({"wall_s": time.perf_counter() - started, "latencies_us": latencies}))


if __name__ == "__main__":
    main()
