"""The lab's ASGI app (Starlette): its own static page, the runs it was given, and nothing else.

Routes::

    GET  /                        the page (static/index.html)
    GET  /static/PATH             a file of the package's static/ folder (read once; nothing else is served)
    GET  /api/runs                the runs, what their views need to know, and the limits
    POST /api/runs/RUN/ACTION     a view's action (a JSON answer) or stream (server-sent events)

Every refusal is JSON ``{"error": "name: why"}`` with its status: 400 (a bad field, a body that is not
UTF-8 / JSON), 404 (no such run or action), 413 (body too large), 429 (over the request rate, with
``Retry-After``, or too many generations at once). The model calls run in worker threads, each under
its run's lock; a stream takes the lock for each batch of events (what it writes within 10 ms), so two
generations on one run interleave safely. Every answer forbids other origins' scripts, frames and connections
(``Content-Security-Policy``); a ``Host`` check (when the lab listens on loopback) keeps other web
pages from reaching it through DNS rebinding.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .fields import LabError, read_body
from .limits import Limits, RateLimiter, StreamSlots
from .runs import LabRun

STATIC = Path(__file__).parent / "static"
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
SECURITY_HEADERS = [
    (b"content-security-policy", (b"default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
                                  b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")),
    (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store")]
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
BATCH_SECONDS = 0.01                  # a stream sends what was written within this long in one write


def static_files() -> dict[str, tuple[bytes, str]]:
    """``{relative path: (content, media type)}`` of every servable file under static/."""
    return {path.relative_to(STATIC).as_posix(): (path.read_bytes(), MEDIA_TYPES[path.suffix])
            for path in sorted(STATIC.rglob("*")) if path.is_file() and path.suffix in MEDIA_TYPES}


class SecurityHeaders:
    """ASGI middleware: adds :data:`SECURITY_HEADERS` to every HTTP answer."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Lab:
    """The handlers, over the runs and the limits (see the module docstring)."""

    def __init__(self, runs: Sequence[LabRun], limits: Limits):
        self.runs = {run.id: run for run in runs}
        self.limits = limits
        self.rate = RateLimiter(limits.requests_per_second, limits.burst)
        self.slots = StreamSlots(limits.max_streams)
        self.files = static_files()

    def _file(self, name: str) -> Response:
        if name not in self.files:
            raise LabError(404, f"path: /static/{name} is not a file of the lab")
        content, media_type = self.files[name]
        return Response(content, media_type=media_type)

    async def page(self, request: Request) -> Response:
        return self._file("index.html")

    async def static(self, request: Request) -> Response:
        return self._file(request.path_params["path"])

    def _admit(self, request: Request) -> None:
        wait = self.rate.wait(request.client.host if request.client else "unknown")
        if wait:
            raise LabError(429, f"rate: more than {self.limits.requests_per_second:g} requests a second "
                                f"(bursts of {self.limits.burst}); retry in {wait:.1f} s")

    async def list_runs(self, request: Request) -> Response:
        self._admit(request)
        return JSONResponse({"runs": [run.describe() for run in self.runs.values()],
                             "limits": dataclasses.asdict(self.limits)})

    async def act(self, request: Request) -> Response:
        self._admit(request)
        run = self.runs.get(request.path_params["run"])
        if run is None:
            raise LabError(404, f"run: no run named {request.path_params['run']!r}; the lab shows "
                                f"{', '.join(self.runs)}")
        name, view = request.path_params["action"], run.view
        if name not in view.actions and name not in view.streams:
            raise LabError(404, f"action: the {view.title} view has no {name!r} (it has "
                                f"{', '.join([*view.actions, *view.streams])})")
        body = await read_body(request, self.limits.max_body_bytes)
        if name in view.actions:
            return JSONResponse(await run_in_threadpool(self._call, run, view.actions[name], body))
        if not self.slots.take():
            raise LabError(429, f"streams: {self.limits.max_streams} generations are running; wait for one to end")
        try:
            events = await run_in_threadpool(self._call, run, view.streams[name], body)
        except BaseException:
            self.slots.give()
            raise
        return StreamingResponse(self._events(run, events), media_type="text/event-stream")

    def _call(self, run: LabRun, function, body: dict) -> Any:
        """``function(model, body, limits)`` under the run's lock; its ValueError becomes a 400."""
        with run.lock:
            try:
                return function(run.model, body, self.limits)
            except ValueError as err:
                raise LabError(400, str(err)) from None

    def _next(self, run: LabRun, events: Iterator[dict]) -> list[dict]:
        """The stream's next events under the run's lock: one, and more while they come within
        :data:`BATCH_SECONDS` (one trip to a worker thread per batch, not per event); none at its end."""
        batch, started = [], time.perf_counter()
        with run.lock:
            for event in events:
                batch.append(event)
                if time.perf_counter() - started >= BATCH_SECONDS:
                    break
        return batch

    async def _events(self, run: LabRun, events: Iterator[dict]):
        """The stream as server-sent events, one ``data: JSON`` each; a failure ends it with an error event."""
        try:
            while batch := await run_in_threadpool(self._next, run, events):
                yield "".join(f"data: {json.dumps(event, ensure_ascii=False)}\n\n" for event in batch)
        except ValueError as err:
            yield f"data: {json.dumps({'kind': 'error', 'error': str(err)}, ensure_ascii=False)}\n\n"
        finally:
            self.slots.give()


async def _refused(request: Request, error: LabError) -> Response:
    headers = {"Retry-After": "1"} if error.status == 429 else None
    return JSONResponse({"error": str(error)}, status_code=error.status, headers=headers)


def create_app(runs: Sequence[LabRun], limits: Limits | None = None,
               allowed_hosts: Sequence[str] | None = LOOPBACK_HOSTS) -> Starlette:
    """The lab over loaded ``runs`` (:func:`rnnkit.serve.open_runs`).

    Arguments:
        limits: the request limits (default :class:`Limits`).
        allowed_hosts: the ``Host`` names it answers (the loopback names by default); None: any.
    """
    lab = Lab(runs, limits or Limits())
    routes = [Route("/", lab.page), Route("/static/{path:path}", lab.static), Route("/api/runs", lab.list_runs),
              Route("/api/runs/{run}/{action}", lab.act, methods=["POST"])]
    middleware = [Middleware(SecurityHeaders)]
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    return Starlette(routes=routes, middleware=middleware, exception_handlers={LabError: _refused})
