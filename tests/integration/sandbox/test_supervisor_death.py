"""PR_SET_PDEATHSIG: nothing the supervisor started outlives it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from .conftest import hostile_ids


def test_workers_die_with_the_supervisor(hostile_site: Path, tmp_path: Path) -> None:
    """kill -9 of the supervisor's process takes the zygote and a running worker with it."""
    script = tmp_path / "supervise.py"
    script.write_text(
        textwrap.dedent(f"""
        import asyncio, sys
        sys.path.insert(0, {str(hostile_site)!r})
        from connectord.plugins.manager import Selection
        from connectord.runtime.calls import run_in_sandbox
        from connectord.sandbox.calls import Call
        from connectord.sandbox.policy import ConnectorPolicy, SandboxPolicy
        from connectord.sandbox.supervisor import Supervisor
        from connectord.sandbox.protocol import Limits

        async def main():
            writable = ConnectorPolicy(limits=Limits(writable_paths=[{str(tmp_path)!r}]))
            sup = Supervisor(Selection(allow=frozenset({hostile_ids()!r})), SandboxPolicy(default=writable))
            await sup.start()
            await sup.zygote_for("forker").ensure_started()
            print(sup.zygote_for("forker").pid, flush=True)
            await run_in_sandbox(sup, Call(connector="forker", method="verify_credentials",
                                  credentials={{"path": {str(tmp_path / "pids")!r}}}), timeout=60)

        asyncio.run(main())
    """)
    )
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    zygote = int(process.stdout.readline())
    pids_file = tmp_path / "pids"
    for _ in range(200):
        if pids_file.exists() and len(pids_file.read_text().split()) == 3:
            break
        time.sleep(0.05)  # polling a file another process writes: nothing to await
    worker_children = [int(p) for p in pids_file.read_text().split()]
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    process.stdout.close()
    for _ in range(100):
        if not any(_alive(p) for p in [zygote, *worker_children]):
            return
        time.sleep(0.05)
    raise AssertionError(f"still alive: {[p for p in [zygote, *worker_children] if _alive(p)]}")


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].strip()
    except OSError:
        return False
    return not stat.startswith("Z ")
