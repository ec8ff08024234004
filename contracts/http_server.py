"""The HTTP server every service answers on: probes, ``/metrics``, pages and ``/predict``.

aiohttp's low-level server on its own event loop in one thread, so a connection costs a
few kilobytes and no thread, and hostile clients meet limits instead of the process's
memory, threads or file descriptors:

- a body is read up to :data:`MAX_BODY` whatever ``Content-Length`` says (negative,
  not a number, absent with a chunked body), else 400 or 413 and the connection closes;
- a connection with no request under way (half-sent headers, idle keep-alive) is closed
  after :data:`IDLE_SECONDS`, and one whose request takes longer than
  :data:`REQUEST_SECONDS` (a body trickling in, a reader that never reads) likewise;
- at most :data:`MAX_CONNECTIONS` are open: a new one pushes out the one that has waited
  longest without sending a whole request, so a crowd of slow clients cannot lock the
  probes out (a probe sends its request at once);
- pages that may wait (for a lock, to render) run on :data:`WORKERS` threads; probes
  answer on the loop itself.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import json
import logging
import resource
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler, RequestPayloadError

from contracts.ports import in_use

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
IDLE_SECONDS = 5.0
REQUEST_SECONDS = 15.0
MAX_CONNECTIONS = 512
# How many connections the loop accepts at a time: well under the cap, so a probe
# accepted amid a crowd sends its request before the crowd can push it out.
ACCEPT_BATCH = 128
# The kernel's queue of connections not yet accepted: long, so a burst of connections
# makes a probe wait its turn instead of losing its SYN (a one-second retry).
LISTEN_QUEUE = 1024
WORKERS = 4
# No page runs a script, loads a resource or can be framed; the ops page's styles are inline.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
JSON = "application/json"

Answer = tuple[int, str, bytes]
Check = Callable[[], str | None]
"""A probe's condition: None when it holds, else the reason it does not."""


@dataclass(frozen=True)
class Route:
    """What one path answers: ``answer(body)`` gives (status, content type, body).

    ``private`` routes need the bearer token when one is set; ``blocking`` ones may wait
    (for a lock) and run on the worker threads, the others on the event loop. A GET
    route with ``query`` is handed the request's query string as its body.
    """

    answer: Callable[[bytes], Answer]
    method: str = "GET"
    private: bool = True
    blocking: bool = True
    query: bool = False


def probe(check: Check) -> Route:
    """``/live`` or ``/ready``: 200, or 503 with the reason, open to everyone."""
    def answer(_body: bytes) -> Answer:
        reason = check()
        if reason is None:
            return 200, JSON, b'{"status": "ok"}'
        return 503, JSON, json.dumps({"status": "unavailable", "reason": reason}).encode()
    return Route(answer, private=False, blocking=False)


class Heartbeat:
    """When the service loop last turned; stale past ``max_age`` seconds.

    >>> beat = Heartbeat(max_age=60.0)
    >>> beat.check() is None
    True
    """

    def __init__(self, *, max_age: float = 60.0) -> None:
        self.max_age = max_age
        self._at = time.monotonic()

    def beat(self) -> None:
        self._at = time.monotonic()

    def check(self) -> str | None:
        age = time.monotonic() - self._at
        if age <= self.max_age:
            return None
        return f"the service loop has not turned for {age:.0f} s (limit {self.max_age:.0f} s)"


class HttpServer:
    """Serves ``routes`` on ``host:port`` from a background thread until :meth:`close`.

    Examples
    --------
    >>> import urllib.request
    >>> server = HttpServer("127.0.0.1", 0, {"/live": probe(lambda: None)})
    >>> with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/live") as r:
    ...     r.read()
    b'{"status": "ok"}'
    >>> server.close()
    """

    def __init__(self, host: str, port: int, routes: Mapping[str, Route], *,
                 token: str | None = None, name: str = "http") -> None:
        self._routes = dict(routes)
        self._expected = f"Bearer {token}".encode() if token else None
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix=f"{name}-page")
        self._loop = asyncio.new_event_loop()
        self._runner: web.ServerRunner | None = None
        self._server: _Server | None = None
        started: Future[int] = Future()
        self._thread = threading.Thread(target=self._run, args=(host, port, started),
                                        name=name, daemon=True)
        self._thread.start()
        try:
            self.port = started.result(timeout=30)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise in_use(host, port) from None

    def close(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, host: str, port: int, started: Future[int]) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._runner = self._loop.run_until_complete(self._start(host, port))
        except BaseException as exc:  # the caller learns why (port taken, ...)
            started.set_exception(exc)
            self._loop.close()
            return
        started.set_result(self._runner.addresses[0][1])
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

    async def _start(self, host: str, port: int) -> web.ServerRunner:
        self._server = _Server(self._handle, request_factory=self._request,
                               limit=_connection_cap(), keepalive_timeout=IDLE_SECONDS,
                               lingering_time=0, access_log=None)
        runner = web.ServerRunner(self._server, shutdown_timeout=2.0)
        await runner.setup()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family, backlog=LISTEN_QUEUE)
        # asyncio calls listen() with its accept batch; the second call keeps the queue long.
        await web.SockSite(runner, sock, backlog=ACCEPT_BATCH).start()
        sock.listen(LISTEN_QUEUE)
        return runner

    def _request(self, message: Any, payload: Any, protocol: Any, writer: Any,
                 task: Any) -> web.BaseRequest:
        return web.BaseRequest(message, payload, protocol, writer, task, self._loop,
                               client_max_size=MAX_BODY)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        assert self._server is not None  # noqa: S101 - set before the site listens
        self._server.begin(request.protocol)
        try:
            return await self._answer(request)
        finally:
            self._server.end(request.protocol)

    async def _answer(self, request: web.BaseRequest) -> web.StreamResponse:
        route = self._routes.get(request.path)
        if route is None:
            return reply(404, JSON, _error("not found"))
        if request.method != route.method:
            return reply(405, JSON, _error(f"{request.path} takes {route.method}"),
                         extra={"Allow": route.method})
        if route.private and not self._authorised(request):
            return reply(401, JSON, _error("this page needs the bearer token "
                                           "(Authorization: Bearer <STREAMML_HTTP_TOKEN>)"),
                         extra={"WWW-Authenticate": "Bearer"})
        body = request.query_string.encode() if route.query else b""
        if route.method == "POST":
            try:
                async with asyncio.timeout(REQUEST_SECONDS):
                    body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return reply(413, JSON, _error(f"the body is larger than {MAX_BODY // 1024} "
                                               "KiB"), close=True)
            except TimeoutError:
                return reply(408, JSON, _error(f"the body did not arrive within "
                                               f"{REQUEST_SECONDS:.0f} s"), close=True)
            except (RequestPayloadError, HttpProcessingError) as exc:
                return reply(400, JSON, _error(f"malformed body: {exc}"), close=True)
        try:
            if route.blocking:
                status, content_type, data = await self._loop.run_in_executor(
                    self._pool, route.answer, body)
            else:
                status, content_type, data = route.answer(body)
        except Exception:  # a broken page must not take the server down
            logger.exception("page %s failed", request.path)
            return reply(500, JSON, _error("internal error"))
        return reply(status, content_type, data)

    def _authorised(self, request: web.BaseRequest) -> bool:
        if self._expected is None:
            return True
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self._expected)


def reply(status: int, content_type: str, body: bytes, *, close: bool = False,
          extra: Mapping[str, str] | None = None) -> web.Response:
    response = web.Response(status=status, body=body,
                            headers={**HEADERS, "Content-Type": content_type, **(extra or {})})
    if close:
        response.force_close()
    return response


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def _connection_cap() -> int:
    """:data:`MAX_CONNECTIONS`, or a quarter of the open-file limit when that is lower: the
    Kafka clients and the service need descriptors too."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return MAX_CONNECTIONS if soft == resource.RLIM_INFINITY else \
        max(8, min(MAX_CONNECTIONS, soft // 4))


class _Protocol(RequestHandler):
    """aiohttp's connection handler, answering requests it cannot parse in JSON and
    without a traceback in the log (anyone can send those), and telling the server as
    soon as a request's head has arrived."""

    def __init__(self, guard: _Server, **kwargs: Any) -> None:
        super().__init__(guard, **kwargs)
        self._guard = guard
        self._tail = b""

    def data_received(self, data: bytes) -> None:
        seen = self._tail + data
        self._tail = seen[-3:]
        if b"\r\n\r\n" in seen:
            self._guard.begin(self)
        super().data_received(data)

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        logger.debug("unparsable request from %s: %s", request.remote, message or exc)
        if request.writer.output_size > 0:
            raise ConnectionError("the response was under way; the connection is dropped")
        text = HTTPStatus(status).phrase.lower()
        if status == 400 and message:
            text = f"bad request: {message.splitlines()[0][:200]}"
        return reply(status, JSON, _error(text), close=True)


class _Server(web.Server):
    """Caps open connections and closes those idle or busy for too long."""

    def __init__(self, handler: Any, *, limit: int, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._limit = limit
        self._handler_kwargs = {k: v for k, v in kwargs.items() if k != "request_factory"}
        # Timers that close a connection; insertion order makes the first idle the oldest.
        self._idle: dict[RequestHandler, asyncio.TimerHandle] = {}
        self._busy: dict[RequestHandler, asyncio.TimerHandle] = {}

    def __call__(self) -> RequestHandler:
        return _Protocol(self, loop=asyncio.get_running_loop(), **self._handler_kwargs)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        if len(self._idle) + len(self._busy) >= self._limit:
            if not self._idle:
                handler.force_close()
                return
            self._expire(next(iter(self._idle)))
        self._idle[handler] = self._after(IDLE_SECONDS, handler)

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        self._forget(handler)

    def begin(self, handler: RequestHandler) -> None:
        timer = self._idle.pop(handler, None)
        if timer is not None:
            timer.cancel()
            self._busy[handler] = self._after(REQUEST_SECONDS, handler)

    def end(self, handler: RequestHandler) -> None:
        timer = self._busy.pop(handler, None)
        if timer is not None:
            timer.cancel()
            self._idle[handler] = self._after(IDLE_SECONDS, handler)

    def _after(self, seconds: float, handler: RequestHandler) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(seconds, self._expire, handler)

    def _expire(self, handler: RequestHandler) -> None:
        self._forget(handler)
        handler.force_close()

    def _forget(self, handler: RequestHandler) -> None:
        for timers in (self._idle, self._busy):
            timer = timers.pop(handler, None)
            if timer is not None:
                timer.cancel()


__all__ = ["CSP", "JSON", "MAX_BODY", "Answer", "Check", "Heartbeat", "HttpServer", "Route",
           "probe", "reply"]
