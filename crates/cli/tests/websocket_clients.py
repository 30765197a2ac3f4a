"""WebSocket clients that nobody here wrote, against `kairos serve`: Python's `websockets`
(from PyPI, in the test's virtual environment) and, for what a client library will not send,
raw bytes over a socket. Run by crates/cli/tests/websocket.rs:

    python websocket_clients.py CHECK HOST:PORT [ARGS...]

Each check prints one JSON object per line (what it saw); the Rust test judges it.
"""

import asyncio
import base64
import json
import os
import resource
import socket
import sys
import time

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


def say(**fields):
    print(json.dumps(fields), flush=True)


def closed(ws):
    """The close frame the server sent, as (code, reason)."""
    frame = ws.protocol.close_rcvd
    return (frame.code, frame.reason) if frame else None


def echo(addr):
    with connect(f"ws://{addr}/ws/echo") as ws:
        ws.send("héllo")
        text = ws.recv()
        ws.send(bytes(range(256)))
        binary = ws.recv()
        ws.close(4001, "done here")
        say(text=text, binary=list(binary) == list(range(256)), close=closed(ws))


def wss_echo(addr, cafile):
    """`echo` over TLS, the server's certificate trusted from `cafile`.

    With websockets' asyncio client, not its threaded one: when the threaded client starts
    its closing handshake, it changes the socket's timeout from the sending thread while its
    reading thread waits inside an SSL read, and under load that read fails ("The read
    operation timed out"); the client then closes its socket before the server's close frame
    arrives. Seen here under `stress-ng --cpu 2` (the packets show the client's FIN before the
    server's reply); the asyncio client reads and writes on one thread."""
    import ssl

    from websockets.asyncio.client import connect as connect_async

    async def run():
        context = ssl.create_default_context(cafile=cafile)
        async with connect_async(f"wss://{addr}/ws/echo", ssl=context) as ws:
            await ws.send("over tls")
            text = await ws.recv()
            await ws.close()
            say(text=text, close=closed(ws))

    asyncio.run(run())


def ticks(addr, n, interval_ms):
    with connect(f"ws://{addr}/ws/ticks?n={n}&interval_ms={interval_ms}") as ws:
        got = []
        try:
            while True:
                got.append(ws.recv())
        except ConnectionClosed:
            pass
        say(ticks=got, close=closed(ws), subprotocol=ws.subprotocol)


def subprotocol(addr, *offered):
    with connect(f"ws://{addr}/ws/ticks?n=2&interval_ms=0", subprotocols=list(offered)) as ws:
        first = ws.recv()
        say(subprotocol=ws.subprotocol, first=first)


def oversized(addr, size):
    with connect(f"ws://{addr}/ws/echo", max_size=None) as ws:
        ws.send(b"x" * int(size))
        try:
            ws.recv()
            say(close=None)
        except ConnectionClosed:
            say(close=closed(ws))


def raw_handshake(addr, path, key=True):
    host, port = addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {addr}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Version: 13",
    ]
    if key:
        lines.append("Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)).decode())
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            break
        head += chunk
    return sock, head.decode()


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"the connection ended after {len(data)} of {n} bytes")
        data += chunk
    return data


def malformed(addr, kind):
    """Sends a frame no client library would: unmasked, or with a reserved bit set."""
    sock, head = raw_handshake(addr, "/ws/echo")
    status = int(head.split(" ")[1])
    payload = b"hi"
    if kind == "unmasked":
        frame = bytes([0x81, len(payload)]) + payload
    else:  # reserved bit 1 (RSV1: compression, which nobody negotiated)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        frame = bytes([0x80 | 0x40 | 0x1, 0x80 | len(payload)]) + mask + masked
    sock.sendall(frame)
    first, second = read_exact(sock, 2)
    body = read_exact(sock, second & 0x7F)
    code = int.from_bytes(body[:2], "big")
    ended = sock.recv(1) == b""
    sock.close()
    say(status=status, opcode=first & 0x0F, code=code, reason=body[2:].decode(), ended=ended)


def no_key(addr):
    sock, head = raw_handshake(addr, "/ws/echo", key=False)
    length = 0
    for line in head.split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    body = read_exact(sock, length)
    sock.close()
    say(status=int(head.split(" ")[1]), body=json.loads(body))


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


async def many(addr, count):
    """`count` sockets open at once, each echoing a message; the test reads the server's
    memory while they are all open, then says (a line on stdin) when to close them."""
    from websockets.asyncio.client import connect as aconnect

    raise_fd_limit(int(count) + 100)
    count = int(count)
    started = time.monotonic()
    # Opened in waves of 100, so a loaded machine's listen backlog is never the limit.
    sockets = []
    for wave in range(0, count, 100):
        opened = await asyncio.gather(
            *(aconnect(f"ws://{addr}/ws/echo", open_timeout=60) for _ in range(wave, min(wave + 100, count)))
        )
        sockets.extend(opened)
    opened_s = time.monotonic() - started

    async def one(i, ws):
        await ws.send(f"message {i}")
        return await ws.recv() == f"message {i}"

    echoed = await asyncio.gather(*(one(i, ws) for i, ws in enumerate(sockets)))
    all_s = time.monotonic() - started
    say(open=len(sockets), echoed=sum(echoed), opened_s=round(opened_s, 3), echoed_s=round(all_s, 3))
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await asyncio.gather(*(ws.close() for ws in sockets))
    codes = sorted({ws.protocol.close_rcvd.code for ws in sockets if ws.protocol.close_rcvd})
    say(closed=len(sockets), codes=codes, total_s=round(time.monotonic() - started, 3))


async def hold(addr, count):
    """`count` sockets open on /ws/echo until the server closes them: prints a line once they
    are open, then one with the close frames they got."""
    from websockets.asyncio.client import connect as aconnect

    count = int(count)
    sockets = [await aconnect(f"ws://{addr}/ws/echo") for _ in range(count)]
    for ws in sockets:
        await ws.send("open")
        await ws.recv()
    say(open=len(sockets))

    async def until_closed(ws):
        try:
            await asyncio.wait_for(ws.recv(), timeout=60)
            return None
        except ConnectionClosed:
            frame = ws.protocol.close_rcvd
            return [frame.code, frame.reason] if frame else None

    say(closes=await asyncio.gather(*(until_closed(ws) for ws in sockets)))


def main():
    check, addr, *args = sys.argv[1:]
    if check in ("many", "hold"):
        asyncio.run(globals()[check](addr, *args))
    else:
        globals()[check.replace("-", "_")](addr, *args)


main()
