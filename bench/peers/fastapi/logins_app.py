"""Issue 16's FastAPI peer: logins as a FastAPI user writes them, for bench/logins.py.

The same four routes as ``kairos serve`` (crates/cli/src/service/auth.rs), with the same
answers and the same password cost:

| route | what it does |
|---|---|
| ``POST /users`` | JSON ``{"username", "password"}`` (3..32 of ``[a-z0-9_.-]``, 8..128 chars): the password hashed off the loop, 201 ``{"id","username","is_admin"}``, 409 if taken |
| ``POST /token`` | OAuth2's password form: the password checked **the chapter's way**, ``await loop.run_in_executor(None, verify)``; 200 ``{"access_token","token_type","scope","expires_in"}`` |
| ``POST /login/bad`` | the same, checked **the common way**: ``pwd_context.verify(...)`` called directly in the ``async def``, on the event loop |
| ``GET /plaintext`` | ``Hello, World!``: what the benchmark's probe asks for during a storm of logins |

Passwords: passlib's ``CryptContext(schemes=["argon2"])`` on argon2-cffi, with kairos'
settings (``Passwords::new``, OWASP's first recommendation): argon2id, 19 MiB (19456 KiB), 2
passes, 1 lane, a 16-byte salt and a 32-byte digest. An unknown user is checked against a
dummy hash (passlib's ``dummy_verify``), as kairos checks a decoy: the same time, the same 401.

Users live in SQLite through aiosqlite: a pool of ``DATABASE_POOL`` (5, kairos'
``--database-pool``) connections, each its own thread, as app.py's ``SqlitePool``. The file
is ``$DATABASE_URL`` (``sqlite:PATH``, kairos' spelling), created if missing.

Failed logins are limited as kairos limits them (``count_attempt``): every attempt counts, 5
per username (a success starts that count again) and 50 per client address in 15 minutes, then
429 with ``Retry-After``; in memory, one process. Tokens: an HS256 JWT of 30 minutes (PyJWT, as
FastAPI's tutorial), scopes ``me items`` unless others are asked for.

Run with ``logins_run.sh PORT`` (uvicorn, uvloop, httptools, one worker).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import time
from contextlib import asynccontextmanager
from typing import Annotated

import aiosqlite
import jwt
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse
from fastapi.security import OAuth2PasswordRequestForm
from passlib.context import CryptContext
from pydantic import BaseModel, Field

# kairos' Passwords::new: argon2id, m = 19 MiB, t = 2, p = 1 (RustCrypto's 32-byte output).
pwd_context = CryptContext(
    schemes=["argon2"],
    deprecated="auto",
    argon2__type="ID",
    argon2__memory_cost=19456,
    argon2__time_cost=2,
    argon2__parallelism=1,
    argon2__salt_size=16,
    argon2__digest_size=32,
)

DATABASE_POOL = int(os.environ.get("DATABASE_POOL", "5"))
JWT_SECRET = os.environ.get("KAIROS_JWT_SECRET") or secrets.token_urlsafe(32)
TOKEN_LIFETIME_S = 30 * 60
LOGINS_PER_USER = 5  # kairos' LOGINS_PER_USER
LOGINS_PER_ADDRESS = 50  # kairos' LOGINS_PER_ADDRESS
LOGIN_WINDOW_S = 15 * 60  # kairos' LOGIN_WINDOW
SCOPES = ("me", "items", "admin")


class SqlitePool:
    """``DATABASE_POOL`` aiosqlite connections handed out through a queue (app.py's)."""

    def __init__(self, connections: list[aiosqlite.Connection]) -> None:
        self.idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self.connections = connections
        for connection in connections:
            self.idle.put_nowait(connection)

    async def find(self, username: str) -> tuple | None:
        connection = await self.idle.get()
        try:
            async with connection.execute(
                "SELECT id, username, password_hash, is_admin FROM users WHERE username = ?",
                (username,),
            ) as cursor:
                return await cursor.fetchone()
        finally:
            self.idle.put_nowait(connection)

    async def insert(self, username: str, password_hash: str) -> int:
        connection = await self.idle.get()
        try:
            cursor = await connection.execute(
                "INSERT INTO users (username, password_hash, is_admin) VALUES (?, ?, 0)",
                (username, password_hash),
            )
            await connection.commit()
            return cursor.lastrowid
        finally:
            self.idle.put_nowait(connection)

    async def close(self) -> None:
        for connection in self.connections:
            await connection.close()


async def open_database(url: str) -> SqlitePool:
    if not url.startswith("sqlite:"):
        raise RuntimeError(f"DATABASE_URL must be sqlite:PATH, not {url!r}")
    path = url.removeprefix("sqlite:").removeprefix("//").split("?", 1)[0]
    first = await aiosqlite.connect(path)
    await first.execute("PRAGMA journal_mode=WAL")
    await first.execute(
        "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, username TEXT NOT NULL "
        "UNIQUE, password_hash TEXT NOT NULL, is_admin INTEGER NOT NULL DEFAULT 0)"
    )
    await first.commit()
    rest = [await aiosqlite.connect(path) for _ in range(DATABASE_POOL - 1)]
    return SqlitePool([first, *rest])


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.db = await open_database(os.environ.get("DATABASE_URL", "sqlite:logins.db"))
    # Failed-login counters: key -> [count, window end (monotonic seconds)].
    app.state.limits = {}
    try:
        yield
    finally:
        await app.state.db.close()


app = FastAPI(title="kairos logins (FastAPI peer)", lifespan=lifespan)


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext() -> str:
    return "Hello, World!"


class NewUser(BaseModel):
    username: str = Field(min_length=3, max_length=32, pattern=r"^[a-z0-9_.-]+$")
    password: str = Field(min_length=8, max_length=128)


@app.post("/users", status_code=201)
async def register(request: Request, new: NewUser) -> dict:
    """Registers a user; the hash made on the loop's default executor (off the loop)."""
    loop = asyncio.get_running_loop()
    password_hash = await loop.run_in_executor(None, pwd_context.hash, new.password)
    try:
        user_id = await request.app.state.db.insert(new.username, password_hash)
    except sqlite3.IntegrityError:
        raise HTTPException(status_code=409, detail="that username is taken")
    return {"id": user_id, "username": new.username, "is_admin": False}


def count_attempt(request: Request, username: str) -> None:
    """kairos' count_attempt: every attempt counts, per username and per client address;
    429 with Retry-After past either limit."""
    limits = request.app.state.limits
    now = time.monotonic()
    keys = [(f"user:{username}", LOGINS_PER_USER)]
    if request.client is not None:
        keys.append((f"addr:{request.client.host}", LOGINS_PER_ADDRESS))
    for key, limit in keys:
        entry = limits.get(key)
        if entry is None or entry[1] <= now:
            entry = limits[key] = [0, now + LOGIN_WINDOW_S]
        entry[0] += 1
        if entry[0] > limit:
            left = entry[1] - now
            raise HTTPException(
                status_code=429,
                detail="too many login attempts; retry later",
                headers={"Retry-After": str(max(1, int(left) + (left % 1 > 0)))},
            )


def incorrect() -> HTTPException:
    return HTTPException(
        status_code=401,
        detail="Incorrect username or password",
        headers={"WWW-Authenticate": "Bearer"},
    )


def token_for(form: OAuth2PasswordRequestForm, row: tuple) -> dict:
    is_admin = bool(row[3])
    if form.scopes:
        scopes = [s for s in SCOPES if s in form.scopes and (s != "admin" or is_admin)]
    else:
        scopes = ["me", "items"]
    now = int(time.time())
    claims = {"sub": row[1], "scopes": scopes, "iat": now, "exp": now + TOKEN_LIFETIME_S}
    return {
        "access_token": jwt.encode(claims, JWT_SECRET, algorithm="HS256"),
        "token_type": "bearer",
        "scope": " ".join(scopes),
        "expires_in": TOKEN_LIFETIME_S,
    }


def verify(password: str, stored: str | None) -> bool:
    """The check itself: argon2id against the stored hash, or against a dummy (same cost) for
    an unknown user."""
    if stored is None:
        pwd_context.dummy_verify()
        return False
    return pwd_context.verify(password, stored)


@app.post("/token")
async def token(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> dict:
    """The chapter's way: the CPU-bound check in the loop's default executor."""
    count_attempt(request, form.username)
    row = await request.app.state.db.find(form.username)
    loop = asyncio.get_running_loop()
    ok = await loop.run_in_executor(None, verify, form.password, row[2] if row else None)
    if not ok:
        raise incorrect()
    request.app.state.limits.pop(f"user:{row[1]}", None)  # a success starts the count again
    return token_for(form, row)


@app.post("/login/bad")
async def login_bad(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> dict:
    """The common way: the same check called directly in the ``async def`` -- on the loop."""
    count_attempt(request, form.username)
    row = await request.app.state.db.find(form.username)
    if not verify(form.password, row[2] if row else None):
        raise incorrect()
    request.app.state.limits.pop(f"user:{row[1]}", None)
    return token_for(form, row)

