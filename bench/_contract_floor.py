"""The floor of seed 001 on this machine, for bench/peers.py: a bare aiohttp server that
answers the exec API's three requests (schedule 202 + Location, poll 303, result once) with
nothing behind them: no authentication, store, sandbox, logs or metrics; the results are
kept in memory and the "task" is a constant. What connectord costs beyond it is the price
of what it does with each request.

    python bench/_contract_floor.py      # prints its port on stdout, serves until killed
"""

from __future__ import annotations

import itertools
import socket
import sys

from aiohttp import web

RESULT = {"data": {"verified": True}}


def application() -> web.Application:
    answers: dict[str, dict[str, object]] = {}
    numbers = itertools.count()

    async def schedule(request: web.Request) -> web.Response:
        await request.json()  # read as the real one reads it
        execution_id = str(next(numbers))
        answers[execution_id] = RESULT
        return web.json_response(
            {"id": execution_id}, status=202, headers={"Location": f"/v1/exec/poll/{execution_id}"}
        )

    async def poll(request: web.Request) -> web.Response:
        raise web.HTTPSeeOther(f"/v1/exec/result/{request.match_info['id']}")

    async def result(request: web.Request) -> web.Response:
        answer = answers.pop(request.match_info["id"], None)  # once
        if answer is None:
            raise web.HTTPNotFound()
        return web.json_response(answer)

    app = web.Application()
    app.router.add_post("/v1/exec/schedule", schedule)
    app.router.add_get("/v1/exec/poll/{id}", poll)
    app.router.add_get("/v1/exec/result/{id}", result)
    return app


def main() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    web.run_app(application(), sock=listener, access_log=None, print=None)


if __name__ == "__main__":
    sys.exit(main())
