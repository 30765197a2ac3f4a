"""The chapter's service as the chapter writes it: FastAPI on uvicorn.

This is the Python peer of ``kairos serve`` (crates/cli/src/service/) for the side-by-side
benchmark: the same routes with the same answers (JSON keys, status codes, defaults and
422 ranges), written the way a FastAPI user following "Chapter 04: advanced asynchronous
programming" would write them -- ``async def`` routes on the event loop, a ``def`` route on
Starlette's thread pool, ``run_in_executor`` for blocking and CPU work, ``asyncio.Semaphore``
around outbound calls with ``httpx.AsyncClient``, and a ``StreamingResponse`` fed by an async
generator. Plain FastAPI defaults throughout (``JSONResponse``, no orjson): the point is to
measure the stack as people run it, not a tuned one.

| chapter section | routes |
|---|---|
| baselines | ``/plaintext``, ``/json`` |
| 3.1, 4.1 async def vs def, blocking | ``/async``, ``/sync``, ``/bad``, ``/good`` |
| 1.3, 2.1-2.3 tasks, gather, wait_for | ``/sequential``, ``/concurrent``, ``/gather``, |
| | ``/wait_for``, ``/counter`` |
| 6.2 CPU work on a pool | ``/cpu`` |
| 6.3 Semaphore around outbound calls | ``/external`` |
| 7.1 StreamingResponse, SSE | ``/stream`` |
| issue 12: a validated body through two dependencies | ``POST /contract`` |
| issue 13: table 4.2's database, the next steps' cache | ``/items/{item_id}``, ``/cached`` |
| issue 15: WebSockets | ``/ws/echo`` |
| - | ``/`` (index), ``/debug/loop`` |

Every numeric parameter has the same range as in kairos (``MAX_*`` below mirror the Rust
constants), declared with ``Query(ge=..., le=...)`` so an out-of-range value gets FastAPI's own
422. Parameters are declared in the order kairos checks them, so the first item of ``detail``
is the same on both servers.

Run with ``run.sh PORT [WORKERS]`` (uvicorn with uvloop and httptools). ``/external`` calls
``$KAIROS_UPSTREAM/async?ms=`` (default: this server itself, on 127.0.0.1 and its own port).
``/items/{item_id}`` reads ``$DATABASE_URL`` (``sqlite:PATH`` through aiosqlite, or
``postgres://...`` through asyncpg; without it the route answers 503).
"""

from __future__ import annotations

import asyncio
import html
import logging
import multiprocessing
import os
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Literal

import aiosqlite
import asyncpg
import httpx
from aiocache import Cache
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, WebSocket
from fastapi import WebSocketDisconnect
from fastapi import Path as FastAPIPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, StreamingResponse
from starlette.middleware.gzip import GZipMiddleware
from pydantic import BaseModel, Field

# The same bounds as kairos (service/mod.rs and each route's module): the server is meant to
# be poked at, so no request may sleep for an hour or spawn a million tasks.
MAX_MS = 10_000  # the longest sleep one parameter may ask for (ms, work_ms, ...)
MAX_TOTAL_MS = 60_000  # the longest a whole request may be asked to last (/stream, /external)
MAX_SCALE = 5.0  # /sequential, /concurrent, /gather: the longest step (B, 2 s) takes 10 s
MAX_TASKS = 100_000  # /counter
MAX_N = 5_000_000_000  # /cpu: a few seconds of work inline for kairos, most of an hour for Python
MAX_CALLS = 100  # /external: calls per request, and the largest semaphore
MAX_EVENTS = 10_000  # /stream


def _cores() -> int:
    """The cores this process may run on (its affinity, as taskset sets it), shared out among
    uvicorn's workers as kairos shares them among its loops: ``max(1, cores // workers)``.

    uvicorn reads its default ``--workers`` from ``WEB_CONCURRENCY``; run.sh sets both.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    workers = int(os.environ.get("WEB_CONCURRENCY", "1") or 1)
    return max(1, cores // max(1, workers))


@asynccontextmanager
async def lifespan(app: FastAPI):
    """Per-process resources, made once when the worker starts and closed when it stops.

    - one ``httpx.AsyncClient`` (6.3): the chapter opens one per call (``async with
      httpx.AsyncClient()`` inside the semaphore), which pays a new connection every time;
      one shared client keeps its connections alive across requests, as kairos's per-loop
      ``Client`` does. Its settings mirror kairos's client: 5 s to connect, 30 s for an
      answer, idle connections kept 4 s (under uvicorn's 5 s keep-alive), 32 of them, no cap
      on connections in use, and no proxy from the environment.
    - a ``ThreadPoolExecutor`` for ``/cpu?pool=thread`` (3.2's ``cpu_pool``).
    - a ``ProcessPoolExecutor`` for ``/cpu?pool=process`` (6.2): under the GIL, CPU work only
      runs in parallel in other processes. Its workers are started with ``spawn``, not Linux's
      default ``fork``: a forked worker would inherit the server's listening socket, a copy of
      the running loop and its threads, and uvicorn's SIGTERM handler (so it ignores SIGTERM),
      and it would outlive the server holding the port. Spawned ones start clean, import this
      module for ``sum_of_squares`` once, and are reaped at shutdown.
    """
    cores = _cores()
    app.state.cores = cores
    app.state.client = httpx.AsyncClient(
        timeout=httpx.Timeout(30.0, connect=5.0),
        limits=httpx.Limits(
            max_connections=None, max_keepalive_connections=32, keepalive_expiry=4.0
        ),
        trust_env=False,
    )
    app.state.cpu_pool = ThreadPoolExecutor(max_workers=cores, thread_name_prefix="cpu")
    app.state.process_pool = ProcessPoolExecutor(
        max_workers=cores, mp_context=multiprocessing.get_context("spawn")
    )
    app.state.db = await open_database(os.environ.get("DATABASE_URL", ""))
    app.state.cache = Cache(Cache.MEMORY)
    app.state.loads = {}
    app.state.cache_stats = {"hits": 0, "misses": 0}
    try:
        yield
    finally:
        if app.state.db is not None:
            await app.state.db.close()
        await app.state.client.aclose()
        app.state.cpu_pool.shutdown(wait=False, cancel_futures=True)
        # Waits for the workers to exit (queued jobs are dropped, a running one finishes):
        # the server must not leave processes behind.
        app.state.process_pool.shutdown(wait=True, cancel_futures=True)


app = FastAPI(title="kairos chapter service (FastAPI peer)", lifespan=lifespan)


def total_within(name: str, total_ms: int) -> None:
    """FastAPI's 422 for a combination of parameters asking for more than ``MAX_TOTAL_MS``.

    Each parameter alone is checked by ``Query(le=...)``; their product cannot be, so it is
    raised by hand as a ``RequestValidationError`` -- FastAPI's own handler then writes it in
    exactly the shape of a native one (``{"detail": [{"type", "loc", "msg", "input"}]}``).
    """
    if total_ms <= MAX_TOTAL_MS:
        return
    raise RequestValidationError(
        [
            {
                "type": "value_error",
                "loc": ("query", name),
                "msg": f"the request would last {total_ms} ms; the parameters together may "
                f"ask for at most {MAX_TOTAL_MS} ms",
                "input": total_ms,
            }
        ]
    )


# --- baselines ---------------------------------------------------------------------------


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext() -> str:
    """``Hello, World!`` as text: the benchmark baseline."""
    return "Hello, World!"


@app.get("/json")
async def json_endpoint() -> dict:
    """``{"message": "Hello, World!"}``: the JSON benchmark baseline."""
    return {"message": "Hello, World!"}


# --- 3.1, 4.1: async def vs def, and blocking the loop -----------------------------------

Ms = Annotated[int, Query(ge=0, le=MAX_MS)]


@app.get("/async")
async def async_sleep(ms: Ms = 1000) -> dict:
    """``async def`` (4.1): sleeps on the loop, so other requests run meanwhile."""
    await asyncio.sleep(ms / 1000)
    return {"type": "async", "slept_ms": ms}


@app.get("/sync")
def sync_sleep(ms: Ms = 1000) -> dict:
    """``def`` (4.1): FastAPI runs it on Starlette's thread pool (anyio, 40 tokens), so the
    blocking ``time.sleep`` holds a pool thread, not the loop. The thread's name shows where
    it ran."""
    time.sleep(ms / 1000)
    return {"type": "sync", "slept_ms": ms, "thread": threading.current_thread().name}


@app.get("/bad")
async def bad(ms: Ms = 2000) -> dict:
    """``time.sleep`` inside ``async def`` (3.1) -- the mistake, on purpose: it blocks the
    whole event loop, and every other request on this worker waits."""
    started = time.perf_counter()
    time.sleep(ms / 1000)  # noqa: ASYNC251 -- blocking! the lesson: never do this
    return {"result": "bad", "elapsed_s": time.perf_counter() - started}


@app.get("/good")
async def good(ms: Ms = 2000) -> dict:
    """The same blocking sleep through ``run_in_executor(None, ...)`` (3.1): it runs on the
    loop's default executor (``min(32, cores + 4)`` threads) and the loop stays free.

    ``get_running_loop`` rather than the chapter's ``get_event_loop``: inside a coroutine they
    return the same loop, and the latter is deprecated for this use since Python 3.10.
    """
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, time.sleep, ms / 1000)
    return {"result": "good", "elapsed_s": time.perf_counter() - started}


# --- 1.3, 2.1-2.3: tasks, gather, wait_for, the single-thread race -----------------------

Scale = Annotated[float, Query(ge=0, le=MAX_SCALE)]


async def slow_operation(name: str, seconds: float, fail: bool = False) -> str:
    """One step of the chapter's examples (2.1): sleeps, then ``"<name> result"``, or raises
    ``"<name> failed"`` when asked to."""
    await asyncio.sleep(seconds)
    if fail:
        raise RuntimeError(f"{name} failed")
    return f"{name} result"


@app.get("/sequential")
async def sequential(scale: Scale = 1.0) -> dict:
    """A 1 s then B 2 s, each awaited in turn: 3 s (2.1)."""
    started = time.perf_counter()
    result1 = await slow_operation("A", 1 * scale)
    result2 = await slow_operation("B", 2 * scale)
    return {"results": [result1, result2], "elapsed_s": time.perf_counter() - started}


@app.get("/concurrent")
async def concurrent(scale: Scale = 1.0) -> dict:
    """The same two steps as tasks, scheduled at once by ``create_task``: 2 s (2.1)."""
    started = time.perf_counter()
    task1 = asyncio.create_task(slow_operation("A", 1 * scale))
    task2 = asyncio.create_task(slow_operation("B", 2 * scale))
    result1 = await task1
    result2 = await task2
    return {"results": [result1, result2], "elapsed_s": time.perf_counter() - started}


@app.get("/gather")
async def gather(
    scale: Scale = 1.0,
    fail: Literal["", "A", "B", "C"] = "",
    return_exceptions: bool = False,
) -> dict:
    """gather(A 1 s, B 2 s, C 1.5 s) = 2 s (2.2). With ``fail=X`` step X raises: with
    ``return_exceptions=true`` its slot holds ``{"error": ...}``; without, the answer is 500
    with the error as ``detail`` (2.3).

    The chapter's caution 2 says gather cancels the others when one fails; it does not (they
    keep running, unobserved). Like kairos's ``try_gather``, this route cancels them itself.
    """
    steps = [("A", 1.0), ("B", 2.0), ("C", 1.5)]
    started = time.perf_counter()
    tasks = [
        asyncio.create_task(slow_operation(name, secs * scale, fail == name))
        for name, secs in steps
    ]
    if return_exceptions:
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        results = [
            {"error": str(outcome)} if isinstance(outcome, Exception) else outcome
            for outcome in outcomes
        ]
    else:
        try:
            results = await asyncio.gather(*tasks)
        except RuntimeError as error:
            for task in tasks:
                task.cancel()  # gather left them running: stop them, as kairos does
            raise HTTPException(status_code=500, detail=str(error)) from error
    return {"results": results, "elapsed_s": time.perf_counter() - started}


@app.get("/wait_for")
async def wait_for(
    work_ms: Annotated[int, Query(ge=0, le=MAX_MS)] = 3000,
    timeout_ms: Annotated[int, Query(ge=0, le=MAX_MS)] = 1000,
) -> dict:
    """A task of ``work_ms`` under ``wait_for(timeout_ms)`` (2.3): on timeout the task is
    cancelled, and the answer says so from the task's own cleanup.

    Note Python 3.11's ``wait_for`` with a timeout of 0 gives a not-yet-started task no chance
    and always times out, even with ``work_ms=0``.
    """
    state = {"cancelled": False, "finished": False}

    async def work() -> str:
        try:
            await asyncio.sleep(work_ms / 1000)
            state["finished"] = True
            return "work result"
        except asyncio.CancelledError:
            state["cancelled"] = True  # the task's own `finally`: it knows it was cancelled
            raise

    started = time.perf_counter()
    task = asyncio.create_task(work())
    try:
        result = await asyncio.wait_for(task, timeout=timeout_ms / 1000)
    except TimeoutError:  # the chapter's asyncio.TimeoutError: the same class since 3.11
        # wait_for has already cancelled the task and waited for it (the chapter cancels it
        # again here; that is harmless, and kept as the chapter writes it).
        task.cancel()
        return {
            "status": "timeout",
            "cancelled": state["cancelled"] and not state["finished"],
            "elapsed_s": time.perf_counter() - started,
            "work_ms": work_ms,
            "timeout_ms": timeout_ms,
        }
    return {
        "status": "done",
        "result": result,
        "elapsed_s": time.perf_counter() - started,
        "work_ms": work_ms,
        "timeout_ms": timeout_ms,
    }


@app.get("/counter")
async def counter(
    tasks: Annotated[int, Query(ge=1, le=MAX_TASKS)] = 1000,
    await_between: bool = False,
) -> dict:
    """The race of 1.3: ``tasks`` tasks each read a shared counter and write it back plus one.

    Without an ``await`` between read and write no task can interleave (one thread), so the
    count is exact; with one (``asyncio.sleep(0)``: yield to the loop), every task reads the
    same old value before any writes, and updates are lost.
    """
    count = 0

    async def increment() -> None:
        nonlocal count
        read = count
        if await_between:
            await asyncio.sleep(0)
        count = read + 1

    handles = [asyncio.create_task(increment()) for _ in range(tasks)]
    for handle in handles:
        await handle
    return {"expected": tasks, "final": count, "await_between": await_between}


# --- 6.2: CPU-bound work -----------------------------------------------------------------


def sum_of_squares(n: int) -> int:
    """The sum of ``i * i`` for ``i`` below ``n``, exact (Python's ints; the Rust one uses u128).

    A plain loop on purpose (the chapter's ``cpu_intensive_task``): the point is the work,
    which holds the GIL the whole time. Module-level so the process pool can pickle it.
    """
    s = 0
    for i in range(n):
        s += i * i
    return s


@app.get("/cpu")
async def cpu(
    request: Request,
    n: Annotated[int, Query(ge=0, le=MAX_N)] = 10_000_000,
    pool: Literal["process", "thread", "inline"] = "process",
) -> dict:
    """Sum of squares below ``n`` (6.2) on the chosen pool:

    - ``process``: ``ProcessPoolExecutor`` -- real parallelism, past the GIL, at the price of
      pickling the call and its result;
    - ``thread``: ``ThreadPoolExecutor`` -- the loop stays free, but the GIL lets only one
      thread compute at a time;
    - ``inline``: computed right here in ``async def`` -- the loop answers nothing meanwhile.
    """
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    if pool == "process":
        result = await loop.run_in_executor(request.app.state.process_pool, sum_of_squares, n)
    elif pool == "thread":
        result = await loop.run_in_executor(request.app.state.cpu_pool, sum_of_squares, n)
    else:
        result = sum_of_squares(n)  # blocks the loop: the harm this option shows
    return {"result": result, "pool": pool, "n": n, "elapsed_s": time.perf_counter() - started}


# --- 6.3: a semaphore around outbound calls ----------------------------------------------


def _upstream(request: Request) -> str:
    """Where ``/external`` calls: ``$KAIROS_UPSTREAM``, else this server itself on loopback
    (its own port, from the ASGI scope). Never a URL from the request, so the route cannot be
    used to reach anything else."""
    configured = os.environ.get("KAIROS_UPSTREAM")
    if configured:
        return configured.rstrip("/")
    port = request.scope["server"][1]
    return f"http://127.0.0.1:{port}"


@app.get("/external")
async def external(
    request: Request,
    n: Annotated[int, Query(ge=1, le=MAX_CALLS)] = 20,
    limit: Annotated[int, Query(ge=1, le=MAX_CALLS)] = 5,
    ms: Ms = 200,
) -> dict:
    """``n`` calls to ``{upstream}/async?ms=`` under ``asyncio.Semaphore(limit)`` (6.3): never
    more than ``limit`` in flight, which the answer shows as ``max_in_flight``.

    The semaphore is per request (``limit`` is a parameter); the client is the process's one
    (see ``lifespan``). A failed call cancels the others and answers 502.
    """
    total_within("ms", -(-n // limit) * ms)  # ceil(n / limit) rounds of `ms` each
    url = f"{_upstream(request)}/async?ms={ms}"
    client: httpx.AsyncClient = request.app.state.client
    api_semaphore = asyncio.Semaphore(limit)
    in_flight = 0
    max_in_flight = 0

    async def call_external_api() -> bytes:
        nonlocal in_flight, max_in_flight
        async with api_semaphore:
            # Inside this block at most `limit` coroutines run at once.
            in_flight += 1
            max_in_flight = max(max_in_flight, in_flight)
            try:
                response = await client.get(url)
                if not response.is_success:
                    raise RuntimeError(f"upstream answered {response.status_code}")
                return response.content
            finally:
                in_flight -= 1

    started = time.perf_counter()
    calls = [asyncio.create_task(call_external_api()) for _ in range(n)]
    try:
        await asyncio.gather(*calls)
    except (httpx.HTTPError, RuntimeError) as error:
        for call in calls:
            call.cancel()
        raise HTTPException(
            status_code=502, detail=f"a call to the upstream failed: {error}"
        ) from error
    return {
        "n": n,
        "limit": limit,
        "ms": ms,
        "max_in_flight": max_in_flight,
        "elapsed_s": time.perf_counter() - started,
    }


# --- 7.1: streaming ----------------------------------------------------------------------


async def generate_data(n: int, interval_ms: int):
    """Server-sent events from an async generator: ``data: 0`` ... ``data: n-1``.

    The first event goes at once (time to first event is the point of streaming), then one
    every ``interval_ms``. Starlette stops iterating when the client leaves.
    """
    for i in range(n):
        if i > 0:
            await asyncio.sleep(interval_ms / 1000)
        yield f"data: {i}\n\n"


@app.get("/stream")
async def stream_endpoint(
    n: Annotated[int, Query(ge=1, le=MAX_EVENTS)] = 100,
    interval_ms: Annotated[int, Query(ge=0, le=MAX_MS)] = 100,
) -> StreamingResponse:
    """``StreamingResponse`` of an async generator as ``text/event-stream`` (7.1), with the
    two headers an SSE endpoint needs behind caches and proxies (kairos's ``Sse`` sends the
    same ones)."""
    total_within("interval_ms", n * interval_ms)
    return StreamingResponse(
        generate_data(n, interval_ms),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# --- issue 12: a validated body through two chained dependencies ------------------------


class Priority(str, Enum):
    """How urgent an order is (a named enum: pydantic's ``enum`` error)."""

    low = "low"
    normal = "normal"
    high = "high"


class Order(BaseModel):
    """The body of ``POST /contract``: kairos' ``Order`` (service/contract.rs), field by field."""

    customer: str = Field(min_length=2, max_length=40)
    email: str = Field(max_length=80, pattern=r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$")
    quantity: int = Field(ge=1, le=1000)
    unit_price: float = Field(gt=0, le=100_000)
    discount: float = Field(default=0.0, ge=0, lt=1)
    priority: Priority
    channel: Literal["web", "store", "phone"]
    tags: list[str] = Field(min_length=1, max_length=5)
    note: str | None = Field(default=None, max_length=200)
    gift: bool = False


@dataclass
class RequestContext:
    request_id: str


@dataclass
class Tenant:
    name: str
    plan: str
    request_id: str


TENANTS = {"acme": "pro", "globex": "free", "initech": "pro"}


async def get_request_context(
    x_request_id: Annotated[str, Header(pattern=r"^[a-z]+-[0-9a-f]{8,32}$")],
) -> RequestContext:
    """The first dependency: who is asking, from the ``x-request-id`` header."""
    return RequestContext(request_id=x_request_id)


async def get_tenant(
    context: Annotated[RequestContext, Depends(get_request_context)],
) -> Tenant:
    """The second, made from the first: the tenant the request id names (403 if unknown)."""
    wanted = context.request_id.split("-", 1)[0]
    plan = TENANTS.get(wanted)
    if plan is None:
        raise HTTPException(status_code=403, detail=f"unknown tenant '{wanted}'")
    return Tenant(name=wanted, plan=plan, request_id=context.request_id)


@app.post("/contract")
async def contract(order: Order, tenant: Annotated[Tenant, Depends(get_tenant)]) -> dict:
    """The order, validated, for the tenant of the request: a few fields and the total."""
    return {
        "request_id": tenant.request_id,
        "tenant": tenant.name,
        "plan": tenant.plan,
        "customer": order.customer,
        "quantity": order.quantity,
        "priority": order.priority.value,
        "channel": order.channel,
        "tags": len(order.tags),
        "total": order.quantity * order.unit_price * (1 - order.discount),
        "gift": order.gift,
        "note": order.note,
    }


# --- issue 13: table 4.2's database and the next steps' cache ----------------------------

# kairos serve's --database-pool default: the same number of connections on every server.
DATABASE_POOL = int(os.environ.get("DATABASE_POOL", "5"))
ITEM_COLUMNS = ("id", "name", "price", "description")


class SqlitePool:
    """aiosqlite has no pool: ``DATABASE_POOL`` connections (each one its own thread, as
    aiosqlite runs them) handed out through a queue, so that as many queries run at once as
    on kairos' and axum's sqlx pools."""

    def __init__(self, connections: list[aiosqlite.Connection]) -> None:
        self.idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self.connections = connections
        for connection in connections:
            self.idle.put_nowait(connection)

    async def fetch_item(self, item_id: int) -> dict | None:
        connection = await self.idle.get()
        try:
            async with connection.execute(
                "SELECT id, name, price, description FROM items WHERE id = ?", (item_id,)
            ) as cursor:
                row = await cursor.fetchone()
        finally:
            self.idle.put_nowait(connection)
        return None if row is None else dict(zip(ITEM_COLUMNS, row))

    async def close(self) -> None:
        for connection in self.connections:
            await connection.close()


class PostgresPool:
    """asyncpg's own pool of ``DATABASE_POOL`` connections."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def fetch_item(self, item_id: int) -> dict | None:
        row = await self.pool.fetchrow(
            "SELECT id, name, price, description FROM items WHERE id = $1", item_id
        )
        return None if row is None else dict(row)

    async def close(self) -> None:
        await self.pool.close()


async def open_database(url: str):
    """The pool for ``url``: ``sqlite:PATH`` (sqlx's spelling, ``sqlite://PATH?mode=...``
    too) through aiosqlite, ``postgres://`` through asyncpg; ``None`` without a URL."""
    if not url:
        return None
    if url.startswith(("postgres://", "postgresql://")):
        return PostgresPool(
            await asyncpg.create_pool(url, min_size=DATABASE_POOL, max_size=DATABASE_POOL)
        )
    if url.startswith("sqlite:"):
        path = url.removeprefix("sqlite:").removeprefix("//").split("?", 1)[0]
        return SqlitePool([await aiosqlite.connect(path) for _ in range(DATABASE_POOL)])
    raise RuntimeError(f"DATABASE_URL must start with sqlite: or postgres://, not {url!r}")


@app.get("/items/{item_id}")
async def read_item(request: Request, item_id: Annotated[int, FastAPIPath(ge=0)]) -> dict:
    """The item, or 404 (kairos' ``{"detail": "no item N"}``)."""
    db = request.app.state.db
    if db is None:
        raise HTTPException(status_code=503, detail="no DATABASE_URL")
    item = await db.fetch_item(item_id)
    if item is None:
        raise HTTPException(status_code=404, detail=f"no item {item_id}")
    return item


CACHE_TTL_S = 30  # kairos' cached values live 30 s


@app.get("/cached")
async def cached(
    request: Request,
    key: Annotated[str, Query(min_length=1, max_length=100)],
    ms: Ms = 200,
) -> dict:
    """aiocache's memory backend: the key's value, or a loader that sleeps ``ms`` (kairos'
    answer shape: the value, how many times its loader ran, hits and misses)."""
    cache = request.app.state.cache
    stats = request.app.state.cache_stats
    loaded = await cache.get(key)
    if loaded is None:
        stats["misses"] += 1
        loads = request.app.state.loads
        loads[key] = loads.get(key, 0) + 1
        await asyncio.sleep(ms / 1000)
        loaded = {"key": key, "loaded_at_unix_ms": int(time.time() * 1000)}
        await cache.set(key, loaded, ttl=CACHE_TTL_S)
    else:
        stats["hits"] += 1
    return {
        **loaded,
        "loads": request.app.state.loads.get(key, 0),
        "cache": dict(stats),
    }


# --- issue 15: a WebSocket echo ----------------------------------------------------------


@app.websocket("/ws/echo")
async def ws_echo(websocket: WebSocket) -> None:
    """Every text and binary message sent back as it came, until the client closes. The FastAPI
    docs' loop, on ``receive()`` rather than ``receive_text()`` so that both kinds come through;
    uvicorn (its ``websockets`` sans-I/O protocol, picked by ``--ws auto``) answers pings and
    the closing handshake itself."""
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        return  # the client went away while its echo was being sent


# --- index and the loop ------------------------------------------------------------------

ROUTES = [
    ("/plaintext", "async", "Hello, World! as text (benchmark baseline)"),
    ("/json", "async", '{"message":"Hello, World!"} (benchmark baseline)'),
    ("/async?ms=1000", "async", "sleeps on the loop; other requests run meanwhile (4.1)"),
    ("/sync?ms=1000", "sync", "time.sleep on Starlette's thread pool (40 tokens) (4.1)"),
    ("/bad?ms=2000", "async", "time.sleep in async def: blocks the loop on purpose (3.1)"),
    ("/good?ms=2000", "async", "the same sleep through run_in_executor (3.1)"),
    ("/sequential?scale=1", "async", "A 1 s then B 2 s, awaited in turn: 3 s (2.1)"),
    ("/concurrent?scale=1", "async", "A and B as tasks: 2 s (2.1)"),
    (
        "/gather?scale=1&fail=B&return_exceptions=true",
        "async",
        "gather(A 1 s, B 2 s, C 1.5 s) = 2 s; a failure both ways (2.2, 2.3)",
    ),
    ("/wait_for?work_ms=3000&timeout_ms=1000", "async", "wait_for times out and cancels (2.3)"),
    ("/counter?tasks=1000&await_between=true", "async", "the single-thread race (1.3)"),
    ("/cpu?n=10000000&pool=process", "async", "sum of squares on pool=process|thread|inline (6.2)"),
    ("/external?n=20&limit=5&ms=200", "async", "20 calls, never more than 5 in flight (6.3)"),
    ("/stream?n=100&interval_ms=100", "async", "server-sent events from an async generator (7.1)"),
    ("/debug/loop", "async", "what asyncio can tell about this worker's loop"),
    ("/ws/echo", "async", "WebSocket: every text and binary message sent back (issue 15)"),
]


@app.get("/", response_class=HTMLResponse)
async def index() -> str:
    """A short HTML index: every route with its kind and what it shows."""
    rows = "\n".join(
        f'<tr><td><a href="{html.escape(path)}">{html.escape(path)}</a></td>'
        f"<td>{kind}</td><td>{html.escape(what)}</td></tr>"
        for path, kind, what in ROUTES
    )
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8"><title>kairos (FastAPI peer)'
        "</title></head><body>\n<h1>The FastAPI async chapter, served by FastAPI</h1>\n"
        f"<table><tr><th>route</th><th>kind</th><th>what it shows</th></tr>\n{rows}\n"
        "</table>\n</body></html>\n"
    )


@app.get("/debug/loop")
async def debug_loop(request: Request) -> dict:
    """What Python can tell about this worker's loop (kairos counts far more: polls, slow
    polls, pools' queues; asyncio keeps no such counters)."""
    loop = asyncio.get_running_loop()
    return {
        "pid": os.getpid(),
        "loop": f"{type(loop).__module__}.{type(loop).__qualname__}",
        "tasks_alive": len(asyncio.all_tasks(loop)),
        "threads": threading.active_count(),
        "debug": loop.get_debug(),
        "slow_callback_duration": loop.slow_callback_duration,
        "cpu_pool_max_workers": request.app.state.cores,
        "process_pool_max_workers": request.app.state.cores,
    }


class RequestIdAndAccessLog:
    """kairos serve's middleware (crates/cli/src/service/middleware.rs) as a pure ASGI
    middleware (the fast kind; `@app.middleware("http")` would cost far more): the client's
    `x-request-id` or a new UUID, sent back on the response, and an access-log line naming it
    when INFO is on (it is not in the benchmarks)."""

    def __init__(self, app):
        self.app = app
        self.log = logging.getLogger("kairos.access")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        if request_id is None:
            request_id = str(uuid.uuid4()).encode()
            scope["headers"] = [*scope["headers"], (b"x-request-id", request_id)]
        started = time.perf_counter()
        status = []

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)
        if self.log.isEnabledFor(logging.INFO):
            self.log.info('"%s %s" %s %.1fms id=%s', scope["method"], scope["path"],
                          status[0] if status else "-", (time.perf_counter() - started) * 1e3,
                          request_id.decode())


# Innermost first (Starlette's add_middleware puts each new one outside the others):
# compression (Starlette's, gzip only), then the request id and access log around it.
app.add_middleware(GZipMiddleware, minimum_size=1024)
app.add_middleware(RequestIdAndAccessLog)
