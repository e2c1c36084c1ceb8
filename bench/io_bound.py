"""Benchmark: calls that wait on the network, with slots bounded by memory (the default)
and by the cores (``concurrency`` = cores, the former default), in one run.

    python bench/io_bound.py [--calls 20] [--wait 2]

A slow local HTTP endpoint (in this process, on loopback) answers each request after
``--wait`` seconds. A real ``connectord serve`` (bench/peers.py's, SQLite) runs a connector
whose ``verify_credentials`` fetches it; ``--calls`` clients, each on its own thread and
connection, schedule one call each at once and wait for its result. Printed: when the last
call ended (seconds after the first was scheduled), how many requests the endpoint held at
once, and the server's slots. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

FETCHER = """
import urllib.request

import connectord

@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(id="fetcher", title="Fetcher", version="1")

@connectord.hookimpl
def verify_credentials(credentials):
    with urllib.request.urlopen(credentials["url"], timeout=120) as answer:
        return connectord.verified(answer.read().decode())
"""


class SlowEndpoint(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, wait: float) -> None:
        super().__init__(("127.0.0.1", 0), SlowHandler)
        self.wait = wait
        self.lock = threading.Lock()
        self.holding = self.most_at_once = 0


class SlowHandler(BaseHTTPRequestHandler):
    server: SlowEndpoint

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.holding += 1
            self.server.most_at_once = max(self.server.most_at_once, self.server.holding)
        time.sleep(self.server.wait)
        with self.server.lock:
            self.server.holding -= 1
        body = b"waited"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def burst(peers: Any, server: Any, url: str, calls: int) -> float:
    """Seconds from the first schedule to the last result of ``calls`` calls made at once."""
    body = json.dumps(
        {"execution_type": "verify_credentials", "component": "fetcher", "account_data": {"url": url}}
    )

    def one(_: int) -> float:
        client = peers.ExecClient(server.url, server.auth)
        status, location, answer = client.request("POST", "/v1/exec/schedule", body.encode())
        assert status == 202 and location, answer
        result = client.result(urlsplit(location).path)
        assert result["data"]["verified"], result
        return time.perf_counter()

    started = time.perf_counter()
    with ThreadPoolExecutor(calls) as pool:
        ended = list(pool.map(one, range(calls)))
    return max(ended) - started


def measure(peers: Any, sandbox_toml: str, calls: int, wait: float) -> dict[str, Any]:
    endpoint = SlowEndpoint(wait)
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{endpoint.server_address[1]}/slow"
    with tempfile.TemporaryDirectory() as tmp:
        server = peers.ConnectordServer(Path(tmp), 0, sandbox_toml=sandbox_toml, extra={"fetcher": FETCHER})
        try:
            burst(peers, server, url, 1)  # its zygote is up
            endpoint.most_at_once = 0
            seconds = burst(peers, server, url, calls)
        finally:
            server.close()
            endpoint.shutdown()
    return {"seconds": round(seconds, 2), "most_at_once": endpoint.most_at_once}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--wait", type=float, default=2.0)
    args = parser.parse_args()
    peers = importlib.import_module("peers")  # bench/ is on the path of its scripts
    cores = os.cpu_count() or 2
    by_memory = measure(peers, "", args.calls, args.wait)
    by_cores = measure(peers, f"[sandbox]\nconcurrency = {max(2, cores)}\n", args.calls, args.wait)
    print(f"{args.calls} calls at once, each waiting {args.wait:g} s on a local endpoint, {cores} cores:")
    for name, found in (("slots bounded by memory (default)", by_memory), ("concurrency = cores", by_cores)):
        print(f"  {name:36}last result after {found['seconds']:6.2f} s, {found['most_at_once']} held at once")
    print(json.dumps({"calls": args.calls, "wait": args.wait, "by_memory": by_memory, "by_cores": by_cores}))


if __name__ == "__main__":
    main()
