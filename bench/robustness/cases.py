#!/usr/bin/env python3
"""Hand-written RFC 9112 and request-smuggling cases, sent over raw TCP to one server.

    python3 bench/robustness/cases.py HOST:PORT [--expect strict|lenient] [--report-only]
                                      [--only WORD] [--timeout S] [--jobs N]

Each case is a name, the RFC section (or PortSwigger technique) it comes from, the exact bytes
sent, and the answer expected: the statuses of the responses in order, then whether the
connection must be closed afterwards. The runner reads every response until the server closes
or goes quiet, so a response to bytes that should have been a body, or should never have been
read, shows as an extra response: the smuggling signal.

Expectations are written as `SPEC... CONN`:
  SPEC   one response: `400`, `4xx`, `ok` (the application answered: 2xx, 404 or 405; the
         target servers route GET /plaintext, and POST to it gets 405 or 200), alternatives
         joined by `|` (`400|501`), and `?` after a spec for a response that may be absent
         (`100?` for an interim response the server may skip).
  CONN   `close` (the server must close after the last response), `open` (it must keep the
         connection open), `any`.
A case may have a second expectation for `--expect lenient` where the RFC lets a server
accept what strict mode refuses (bare LF, obs-fold, repeated equal Content-Length...).

Prints a Markdown table (case | ref | expected | got | verdict), then the cases where the RFC
allows more than one answer and what kairos' strict mode chooses. Exits 1 if any case's answer
differs from the expectation, unless --report-only. Standard library only.
"""

import argparse
import concurrent.futures
import re
import socket
import sys
import time
from dataclasses import dataclass, field

# ---------------------------------------------------------------------------------------------
# The cases.

H = "Host: a\r\n"
# The request smuggled inside a body: if a server ever answers it, a response appears that the
# expectation does not count.
SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
GET = f"GET /plaintext HTTP/1.1\r\n{H}"
POST = f"POST /plaintext HTTP/1.1\r\n{H}"
CHUNKED = f"{POST}Transfer-Encoding: chunked\r\n\r\n"
BODY_OK = "3\r\nabc\r\n0\r\n\r\n"
# A body-level error is found only by a server that reads the body. kairos serve's POST
# /plaintext answers 405 without reading it; the server must then close rather than parse what
# follows as a request. So these expect 400, or the application's answer, and a close.
BODY_ERR = "400|ok close"


def chunk(data):
    return f"{len(data):x}\r\n{data}\r\n"


@dataclass
class Case:
    name: str
    ref: str
    data: object  # str (latin-1 bytes) or a list of str parts sent 0.3 s apart
    strict: str
    lenient: str = None
    note: str = ""  # where the RFC allows several answers: both, and what kairos chooses
    head: bool = False  # responses carry no body (HEAD)
    smuggle: bool = False  # bytes in the request must never be answered as a request of their own

    def expect(self, mode):
        return self.lenient if mode == "lenient" and self.lenient else self.strict


CASES = []


def case(name, ref, data, strict, lenient=None, note="", **kw):
    first = data[0] if isinstance(data, list) else data
    if first.startswith("POST "):
        # The target app answers POST without reading the body (405, or 200 from the hyper
        # peer), and a server that answered before reading a body MAY close rather than read
        # and discard it (RFC 9112 §9.3, §9.6): for POST, "open" relaxes to "any".
        strict, lenient = (e and e.replace(" open", " any") for e in (strict, lenient))
    CASES.append(Case(name, ref, data, strict, lenient, note, **kw))


# --- Request line (RFC 9112 §3) --------------------------------------------------------------
case("origin-form", "9112 §3.2.1", f"{GET}\r\n", "ok open")
case("absolute-form", "9112 §3.2.2", f"GET http://a/plaintext HTTP/1.1\r\n{H}\r\n", "ok open")
case("absolute-form, Host differs", "9112 §3.2.2",
     "GET http://a/plaintext HTTP/1.1\r\nHost: b\r\n\r\n", "ok open",
     note="the server MUST ignore Host and use the target's authority")
case("absolute-form without Host", "9112 §3.2", "GET http://a/plaintext HTTP/1.1\r\n\r\n",
     "400 close")
case("absolute-form with userinfo", "9110 §4.2.4",
     f"GET http://u@a/plaintext HTTP/1.1\r\n{H}\r\n", "400 close", "400|ok any",
     note="a recipient SHOULD treat userinfo as an error (400); accepting it is a SHOULD NOT")
case("authority-form CONNECT", "9112 §3.2.3", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
     "4xx|501 any", note="an origin server that does not tunnel answers any 4xx or 501; "
     "a 2xx would turn the connection into a tunnel")
case("authority-form with GET", "9112 §3.2.3", f"GET a:80 HTTP/1.1\r\n{H}\r\n", "400 close")
case("asterisk-form OPTIONS", "9112 §3.2.4", f"OPTIONS * HTTP/1.1\r\n{H}\r\n", "ok|501 any")
case("asterisk-form with GET", "9112 §3.2.4", f"GET * HTTP/1.1\r\n{H}\r\n", "400 close",
     "400|ok any", note="invalid request-line: SHOULD 400 (or 301); treating * as a path "
     "answers 404")
case("empty request-target", "9112 §3", f"GET  HTTP/1.1\r\n{H}\r\n", "400 close")
case("space inside the target", "9112 §3", f"GET /plain text HTTP/1.1\r\n{H}\r\n", "400 close")
case("fragment in the target", "9112 §3.2.1", f"GET /plaintext#f HTTP/1.1\r\n{H}\r\n",
     "400 close", "400|ok any",
     note="origin-form has no fragment: an invalid request-line SHOULD get 400")
case("non-ASCII byte in the target", "9112 §3.2", f"GET /\x80 HTTP/1.1\r\n{H}\r\n", "400 close")
case("NUL in the target", "9112 §3.2", f"GET /\x00 HTTP/1.1\r\n{H}\r\n", "400 close")
case("bare CR in the target", "9112 §2.2", f"GET /a\rb HTTP/1.1\r\n{H}\r\n", "400 close")
case("relative target", "9112 §3.2", f"GET plaintext HTTP/1.1\r\n{H}\r\n", "400 close")
case("empty path segment //", "9112 §3.2.1", f"GET //plaintext HTTP/1.1\r\n{H}\r\n", "ok open")
case("percent-encoded path", "3986 §2.1", f"GET /plain%74ext HTTP/1.1\r\n{H}\r\n", "ok open")
case("bad percent-encoding", "3986 §2.1", f"GET /%zz HTTP/1.1\r\n{H}\r\n", "400|ok any",
     note="an invalid URI SHOULD get 400; a server that routes it as an unknown path answers 404")
case("8000-octet request-line", "9112 §3", f"GET /plaintext?{'a' * 7970} HTTP/1.1\r\n{H}\r\n",
     "ok open", note="RECOMMENDED: support request-lines of at least 8000 octets")
case("20 KiB request-target", "9112 §3",
     f"GET /{'a' * 20 * 1024} HTTP/1.1\r\n{H}\r\n", "414 close")
case("64 KiB request-target", "9112 §3",
     f"GET /{'a' * 64 * 1024} HTTP/1.1\r\n{H}\r\n", "414 close")
case("1000-octet method", "9112 §3", f"{'A' * 1000} /plaintext HTTP/1.1\r\n{H}\r\n",
     "400|405|501 any", note="SHOULD 501 for a method longer than any implemented")
case("unknown method", "9110 §9.1", f"FOO /plaintext HTTP/1.1\r\n{H}\r\n", "405|501 any")
case("lowercase method", "9110 §9.1", f"get /plaintext HTTP/1.1\r\n{H}\r\n", "405|501 any",
     note="methods are case-sensitive: `get` is an unknown method, not GET")
case("method with a separator", "9110 §5.6.2", f"GE(T /plaintext HTTP/1.1\r\n{H}\r\n",
     "400 close")
case("method with NUL", "9110 §5.6.2", f"GE\x00T /plaintext HTTP/1.1\r\n{H}\r\n", "400 close")
case("HTTP/1.0", "9112 §2.3", "GET /plaintext HTTP/1.0\r\n\r\n", "ok close")
case("HTTP/1.2", "9110 §2.5", f"GET /plaintext HTTP/1.2\r\n{H}\r\n", "ok|400|505 any",
     note="a higher minor version SHOULD be processed as 1.1; 400 or 505 is a deviation "
     "that smuggles nothing")
case("HTTP/2.0 in an HTTP/1 request-line", "9110 §15.6.6",
     f"GET /plaintext HTTP/2.0\r\n{H}\r\n", "400|505 close")
case("HTTP/3.0", "9110 §15.6.6", f"GET /plaintext HTTP/3.0\r\n{H}\r\n", "400|505 close")
case("HTTP/0.9 (no version)", "9112 §3", "GET /plaintext\r\n\r\n", "400|505 close",
     note="HTTP/0.9 is not supported: 400 (or 505); no 0.9-style bodyless answer")
case("h2 preface on HTTP/1", "9113 §3.4", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "400|505? close",
     note="the preface is built to fail as HTTP/1.1: 400 or 505, or a close without answer")
case("lowercase http/1.1", "9112 §2.3", f"GET /plaintext http/1.1\r\n{H}\r\n", "400 close")
case("HTTP/1", "9112 §2.3", f"GET /plaintext HTTP/1\r\n{H}\r\n", "400 close")
case("HTTP/1.1.1", "9112 §2.3", f"GET /plaintext HTTP/1.1.1\r\n{H}\r\n", "400 close")
case("HTTP/01.1", "9112 §2.3", f"GET /plaintext HTTP/01.1\r\n{H}\r\n", "400 close")
case("HTTP/1.10", "9112 §2.3", f"GET /plaintext HTTP/1.10\r\n{H}\r\n", "400 close")
case("HTTPS/1.1", "9112 §2.3", f"GET /plaintext HTTPS/1.1\r\n{H}\r\n", "400 close")
case("garbage request-line", "9112 §3", f"XYZZY\r\n{H}\r\n", "400 close")
case("space after the version", "9112 §3", f"GET /plaintext HTTP/1.1 \r\n{H}\r\n",
     "400 close", "400|ok any", note="MAY parse on whitespace; strict refuses")
case("two spaces after the method", "9112 §3", f"GET  /plaintext HTTP/1.1\r\n{H}\r\n",
     "400 close", "400|ok any", note="MAY parse on whitespace-delimited words; strict refuses")
case("two spaces before the version", "9112 §3", f"GET /plaintext  HTTP/1.1\r\n{H}\r\n",
     "400 close", "400|ok any", note="as above")
case("HTAB as separator", "9112 §3", f"GET\t/plaintext\tHTTP/1.1\r\n{H}\r\n", "400 close",
     "400|ok any", note="as above")
case("VT as separator", "9112 §3", f"GET\x0b/plaintext HTTP/1.1\r\n{H}\r\n", "400 close",
     "400|ok any", note="as above")
case("FF as separator", "9112 §3", f"GET\x0c/plaintext HTTP/1.1\r\n{H}\r\n", "400 close",
     "400|ok any", note="as above")
case("bare CR as separator", "9112 §2.2", f"GET\r/plaintext HTTP/1.1\r\n{H}\r\n", "400 close",
     "400|ok any", note="MUST reject, or replace the CR with SP")
case("whitespace before the method", "9112 §3", f" GET /plaintext HTTP/1.1\r\n{H}\r\n",
     "400 close", "400|ok any")
case("one empty line before the request", "9112 §2.2", f"\r\n{GET}\r\n", "ok open",
     note="SHOULD ignore at least one empty line before the request-line")
case("three empty lines before the request", "9112 §2.2", f"\r\n\r\n\r\n{GET}\r\n",
     "ok|400 any", note="at least one must be ignored; more MAY be")
case("bare LF ends the request-line", "9112 §2.2",
     f"GET /plaintext HTTP/1.1\n{H}\r\n", "400 close", "ok open",
     note="MAY accept a bare LF; strict: 400")
case("request-line ends CR CR LF", "9112 §2.2", f"GET /plaintext HTTP/1.1\r\r\n{H}\r\n",
     "400 close", "400|ok any", note="bare CR: MUST reject or replace with SP")

# --- Field syntax (RFC 9112 §5, RFC 9110 §5) -------------------------------------------------
case("space before the colon", "9112 §5.1", f"{GET}X-A : b\r\n\r\n", "400 close")
case("HTAB before the colon", "9112 §5.1", f"{GET}X-A\t: b\r\n\r\n", "400 close")
case("empty field name", "9110 §5.1", f"{GET}: b\r\n\r\n", "400 close")
case("space inside the name", "9110 §5.1", f"{GET}X A: b\r\n\r\n", "400 close")
case("separator in the name", "9110 §5.1", f"{GET}X(A): b\r\n\r\n", "400 close")
case("NUL in the name", "9110 §5.1", f"{GET}X\x00A: b\r\n\r\n", "400 close")
case("non-ASCII byte in the name", "9110 §5.1", f"{GET}X\xe9A: b\r\n\r\n", "400 close")
case("DEL in the name", "9110 §5.1", f"{GET}X\x7fA: b\r\n\r\n", "400 close")
case("line without a colon", "9112 §5", f"{GET}X-A b\r\n\r\n", "400 close")
case("NUL in a value", "9110 §5.5", f"{GET}X-A: b\x00c\r\n\r\n", "400 close", "400|ok any",
     note="MUST reject, or replace NUL with SP")
case("bare CR in a value", "9110 §5.5", f"{GET}X-A: b\rc\r\n\r\n", "400 close", "400|ok any",
     note="MUST reject, or replace CR with SP")
case("CTL 0x01 in a value", "9110 §5.5", f"{GET}X-A: b\x01c\r\n\r\n", "400|ok any",
     note="other CTLs are invalid, but recipients MAY retain them")
case("DEL in a value", "9110 §5.5", f"{GET}X-A: b\x7fc\r\n\r\n", "400|ok any",
     note="as above")
case("obs-text in a value", "9110 §5.5", f"{GET}X-A: caf\xe9\r\n\r\n", "ok open")
case("HTAB inside a value", "9110 §5.5", f"{GET}X-A: b\tc\r\n\r\n", "ok open")
case("empty value", "9110 §5.5", f"{GET}X-A:\r\n\r\n", "ok open")
case("no space after the colon", "9112 §5.1", f"{GET}X-A:b\r\n\r\n", "ok open")
case("whitespace around a value", "9112 §5.1", f"{GET}X-A: \t b \t\r\n\r\n", "ok open")
case("header name in odd case", "9110 §5.1", "GET /plaintext HTTP/1.1\r\nhOsT: a\r\n\r\n",
     "ok open")
case("obs-fold with SP", "9112 §5.2", f"{GET}X-A: b\r\n c\r\n\r\n", "400 close", "ok open",
     note="MUST reject with 400 or replace each obs-fold with SP; strict rejects")
case("obs-fold with HTAB", "9112 §5.2", f"{GET}X-A: b\r\n\tc\r\n\r\n", "400 close", "ok open",
     note="as above")
case("whitespace-led line after the request-line", "9112 §2.2",
     f"GET /plaintext HTTP/1.1\r\n X-A: b\r\n{H}\r\n", "400 close", "400|ok any",
     note="MUST reject, or consume each such line without processing it")
case("bare LF ends a field line", "9112 §2.2", f"{GET}X-A: b\n\r\n", "400 close", "ok open",
     note="MAY accept a bare LF; strict: 400")
case("head ends CRLF LF", "9112 §2.2", f"{GET}X-A: b\r\n\n", "400 close", "ok open",
     note="as above")
case("head ends LF CRLF", "9112 §2.2", f"{GET}X-A: b\n\r\n", "400 close", "ok open",
     note="as above")
case("every line ends in bare LF", "9112 §2.2", "GET /plaintext HTTP/1.1\nHost: a\n\n",
     "400 close", "ok open", note="as above")
case("bare CR ends a field line", "9112 §2.2", f"{GET}X-A: b\rX-B: c\r\n\r\n", "400 close",
     "400|ok any", note="MUST reject, or replace CR with SP")
case("100 field lines", "config max_headers",
     "GET /plaintext HTTP/1.1\r\nHost: a\r\n" + "".join(f"X-{i}: v\r\n" for i in range(99))
     + "\r\n", "ok open")
case("101 field lines", "config max_headers",
     "GET /plaintext HTTP/1.1\r\nHost: a\r\n" + "".join(f"X-{i}: v\r\n" for i in range(100))
     + "\r\n", "431 close")
case("1000 field lines", "config max_headers",
     "GET /plaintext HTTP/1.1\r\nHost: a\r\n" + "".join(f"X-{i}: v\r\n" for i in range(1000))
     + "\r\n", "431 close")
case("15 KiB head", "config max_header_size", f"{GET}X-A: {'b' * 15 * 1024}\r\n\r\n",
     "ok open")
case("17 KiB head", "config max_header_size", f"{GET}X-A: {'b' * 17 * 1024}\r\n\r\n",
     "431 close")
case("10 KiB field name", "config max_header_size", f"{GET}{'X' * 10 * 1024}: b\r\n\r\n",
     "ok open")

# --- Host (RFC 9112 §3.2) --------------------------------------------------------------------
case("HTTP/1.1 without Host", "9112 §3.2", "GET /plaintext HTTP/1.1\r\n\r\n", "400 close")
case("two Host lines", "9112 §3.2", f"{GET}Host: b\r\n\r\n", "400 close")
case("two equal Host lines", "9112 §3.2", f"{GET}{H}\r\n", "400 close")
case("Host: a b", "9112 §3.2", "GET /plaintext HTTP/1.1\r\nHost: a b\r\n\r\n", "400 close")
case("Host with userinfo", "9112 §3.2", "GET /plaintext HTTP/1.1\r\nHost: u@a\r\n\r\n",
     "400 close")
case("Host with a path", "9112 §3.2", "GET /plaintext HTTP/1.1\r\nHost: a/b\r\n\r\n",
     "400 close")
case("Host with a non-digit port", "9112 §3.2", "GET /plaintext HTTP/1.1\r\nHost: a:b\r\n\r\n",
     "400 close")
case("Host: unclosed IPv6 literal", "9112 §3.2",
     "GET /plaintext HTTP/1.1\r\nHost: [::1\r\n\r\n", "400 close")
case("Host with a port", "9112 §3.2", "GET /plaintext HTTP/1.1\r\nHost: a.example:8080\r\n\r\n",
     "ok open")
case("Host: IPv6 literal", "9112 §3.2", "GET /plaintext HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
     "ok open")
case("Host with an empty port", "3986 §3.2.3", "GET /plaintext HTTP/1.1\r\nHost: a:\r\n\r\n",
     "ok open")
case("Host with a trailing dot", "3986 §3.2.2", "GET /plaintext HTTP/1.1\r\nHost: a.\r\n\r\n",
     "ok open")
case("Host between HTABs", "9112 §5.1", "GET /plaintext HTTP/1.1\r\nHost:\ta\t\r\n\r\n",
     "ok open")
case("empty Host", "9112 §3.2", "GET /plaintext HTTP/1.1\r\nHost:\r\n\r\n", "ok|400 any",
     note="empty Host is how a target without authority is sent; the server MAY reject it "
     "(§3.3) or apply a default; kairos accepts")
case("HTTP/1.0 without Host", "9112 §3.2", "GET /plaintext HTTP/1.0\r\n\r\n", "ok close")
case("HTTP/1.0 with two Hosts", "9112 §3.2", "GET /plaintext HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
     "400 close")

# --- Content-Length (RFC 9112 §6.3, RFC 9110 §8.6) -------------------------------------------
case("Content-Length with its body", "9112 §6.3", f"{POST}Content-Length: 3\r\n\r\nabc",
     "ok open")
case("Content-Length: 0", "9112 §6.3", f"{POST}Content-Length: 0\r\n\r\n", "ok open")
case("Content-Length with leading zeros", "9110 §8.6", f"{POST}Content-Length: 003\r\n\r\nabc",
     "ok open", note="1*DIGIT: 003 is valid and means 3")
case("Content-Length: +3", "9112 §6.3 r5", f"{POST}Content-Length: +3\r\n\r\nabc", "400 close")
case("Content-Length: -1", "9112 §6.3 r5", f"{POST}Content-Length: -1\r\n\r\n", "400 close")
case("Content-Length: 0x3", "9112 §6.3 r5", f"{POST}Content-Length: 0x3\r\n\r\nabc",
     "400 close")
case("Content-Length: 3.0", "9112 §6.3 r5", f"{POST}Content-Length: 3.0\r\n\r\nabc",
     "400 close")
case("empty Content-Length", "9112 §6.3 r5", f"{POST}Content-Length:\r\n\r\nabc", "400 close")
case("Content-Length: 3 3", "9112 §6.3 r5", f"{POST}Content-Length: 3 3\r\n\r\nabc",
     "400 close")
case("Content-Length: 3,3", "9112 §6.3 r5", f"{POST}Content-Length: 3,3\r\n\r\nabc",
     "400 close", "ok any",
     note="a list of equal valid values MAY be taken as one; strict refuses")
case("Content-Length: 3,4", "9112 §6.3 r5", f"{POST}Content-Length: 3,4\r\n\r\nabcd",
     "400 close")
case("two equal Content-Lengths", "9112 §6.3 r5",
     f"{POST}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", "400 close", "ok any",
     note="equal values MAY be taken as one; strict refuses")
case("two different Content-Lengths", "9112 §6.3 r5",
     f"{POST}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "400 close", smuggle=True)
case("Content-Length: 2^64-1", "9110 §15.5.14",
     f"{POST}Content-Length: 18446744073709551615\r\n\r\n", "413 close")
case("Content-Length past 2^64", "9110 §8.6",
     f"{POST}Content-Length: 99999999999999999999\r\n\r\n", "400|413 close",
     note="MUST not overflow: 400 (unparseable) or 413 (too large) both end the connection")
case("Content-Length over the body limit", "9110 §15.5.14",
     f"{POST}Content-Length: {16 * 1024 * 1024 + 1}\r\n\r\n", "413 close")
case("Content-Length with a VT", "9112 §6.3 r5", f"{POST}Content-Length:\x0b3\r\n\r\nabc",
     "400 close")
case("space before Content-Length's colon", "9112 §5.1",
     f"{POST}Content-Length : 3\r\n\r\nabc", "400 close")
case("Content-Length on HTTP/1.0", "9112 §6.3",
     "POST /plaintext HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", "ok close")
case("body sent after a pause", "9112 §6.3", [f"{POST}Content-Length: 3\r\n\r\n", "abc"],
     "ok open")
case("CL.0: GET whose body is a request", "PortSwigger CL.0",
     f"{GET}Content-Length: {len(SMUGGLED)}\r\n\r\n{SMUGGLED}", "ok open", smuggle=True,
     note="the body is read as Content-Length says even on GET: one response")
case("0.CL: body split over two sends", "PortSwigger 0.CL",
     [f"{GET}Content-Length: {len(SMUGGLED)}\r\n\r\n", SMUGGLED], "ok any", smuggle=True,
     note="answered before its body came, the server may close; the late body is never a "
     "request")
case("Content_Length with an underscore", "PortSwigger",
     f"{GET}Content_Length: {len(SMUGGLED)}\r\n\r\n", "ok open",
     note="a different, valid field name: no body; must not be read as Content-Length")

# --- Transfer-Encoding and its obfuscations (RFC 9112 §6.1, §6.3) -----------------------------
SMUGGLE_CHUNK = f"{chunk(SMUGGLED)}0\r\n\r\n"
case("CL.TE: Content-Length then chunked", "PortSwigger CL.TE / 9112 §6.3 r3",
     f"{POST}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}",
     "400 close", "ok close", smuggle=True,
     note="TE overrides CL and the message ought to be an error; a server that processes it "
     "MUST close after; strict: 400")
case("TE.CL: chunked then Content-Length", "PortSwigger TE.CL / 9112 §6.3 r3",
     f"{POST}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n{SMUGGLE_CHUNK}",
     "400 close", "ok close", smuggle=True, note="as above")
case("CL.TE with Content-Length: 0", "PortSwigger CL.TE",
     f"{POST}Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n{SMUGGLE_CHUNK}",
     "400 close", "ok close", smuggle=True, note="as above")
case("TE.TE: chunked and xchunked", "PortSwigger TE.TE / 9112 §6.3 r4",
     f"{POST}Content-Length: 3\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: xchunked\r\n\r\n"
     f"{SMUGGLE_CHUNK}", "400 close", smuggle=True)
case("TE: xchunked", "PortSwigger TE.TE / 9112 §6.3 r4",
     f"{POST}Content-Length: 3\r\nTransfer-Encoding: xchunked\r\n\r\n{SMUGGLE_CHUNK}",
     "400 close", smuggle=True, note="TE present, chunked not final: MUST 400 and close")
case("TE: ' chunked' (OWS)", "9112 §5.1", f"{POST}Transfer-Encoding:  chunked\r\n\r\n{BODY_OK}",
     "ok open", note="leading OWS is not part of the value: this is plain chunked")
case("TE: 'chunked ' (OWS)", "9112 §5.1", f"{POST}Transfer-Encoding: chunked \r\n\r\n{BODY_OK}",
     "ok open")
case("TE: HTAB before the value", "PortSwigger TE.TE / 9112 §5.1",
     f"{POST}Transfer-Encoding:\tchunked\r\n\r\n{BODY_OK}", "ok open")
case("TE: space before the colon", "PortSwigger TE.TE / 9112 §5.1",
     f"{POST}Content-Length: 3\r\nTransfer-Encoding : chunked\r\n\r\n{SMUGGLE_CHUNK}",
     "400 close", smuggle=True)
case("TE: HTAB before the colon", "PortSwigger TE.TE / 9112 §5.1",
     f"{POST}Content-Length: 3\r\nTransfer-Encoding\t: chunked\r\n\r\n{SMUGGLE_CHUNK}",
     "400 close", smuggle=True)
case("TE on a whitespace-led line", "PortSwigger TE.TE / 9112 §5.2",
     f"{POST}X-A: b\r\n Transfer-Encoding: chunked\r\nContent-Length: {len(SMUGGLE_CHUNK)}"
     f"\r\n\r\n{SMUGGLE_CHUNK}", "400 close", "ok open", smuggle=True,
     note="obs-fold: strict 400; folded into X-A, the body is the Content-Length's")
case("TE: chunked, identity", "PortSwigger TE.TE / 9112 §6.3 r4",
     f"{POST}Transfer-Encoding: chunked, identity\r\n\r\n{SMUGGLE_CHUNK}", "400 close",
     smuggle=True, note="chunked not final: MUST 400")
case("TE: identity, chunked", "9112 §6.1",
     f"{POST}Transfer-Encoding: identity, chunked\r\n\r\n{BODY_OK}", "400|501 close",
     note="identity is no longer a transfer coding: SHOULD 501 (unknown coding); "
     "kairos strict answers 400")
case("TE: gzip, chunked", "9112 §6.1", f"{POST}Transfer-Encoding: gzip, chunked\r\n\r\n{BODY_OK}",
     "400|501 close", note="a coding the server does not decode: SHOULD 501; kairos strict 400")
case("TE: x then chunked on two lines", "PortSwigger TE.TE / 9112 §6.1",
     f"{POST}Transfer-Encoding: x\r\nTransfer-Encoding: chunked\r\n\r\n{BODY_OK}",
     "400|501 close", note="as above")
case("TE: chunked then x on two lines", "PortSwigger TE.TE / 9112 §6.3 r4",
     f"{POST}Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n{SMUGGLE_CHUNK}",
     "400 close", smuggle=True)
case("TE: chunked twice", "PortSwigger TE.TE / 9112 §6.1",
     f"{POST}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n{BODY_OK}",
     "400 close", note="chunked applied twice (MUST NOT be sent); the body is one chunked "
     "layer, so the recipient cannot decode it as declared")
case("TE: chunked, chunked", "9112 §6.1",
     f"{POST}Transfer-Encoding: chunked, chunked\r\n\r\n{BODY_OK}", "400 close")
case("TE: CHUNKED", "PortSwigger TE.TE / 9112 §7",
     f"{POST}Transfer-Encoding: CHUNKED\r\n\r\n{BODY_OK}", "ok open",
     note="transfer-coding names are case-insensitive: CHUNKED is chunked")
case("TE: quoted \"chunked\"", "PortSwigger TE.TE",
     f"{POST}Content-Length: 3\r\nTransfer-Encoding: \"chunked\"\r\n\r\n{SMUGGLE_CHUNK}",
     "400 close", smuggle=True)
case("TE: VT before chunked", "PortSwigger TE.TE",
     f"{POST}Content-Length: 3\r\nTransfer-Encoding: \x0bchunked\r\n\r\n{SMUGGLE_CHUNK}",
     "400 close", smuggle=True)
case("TE: chunked then VT", "PortSwigger TE.TE",
     f"{POST}Content-Length: 3\r\nTransfer-Encoding: chunked\x0b\r\n\r\n{SMUGGLE_CHUNK}",
     "400 close", smuggle=True)
case("TE: empty value", "9112 §6.3 r4",
     f"{POST}Content-Length: 3\r\nTransfer-Encoding:\r\n\r\nabc", "400|ok any",
     note="an empty list: 400 (TE present, no final chunked) or the Content-Length body")
case("Transfer_Encoding with an underscore", "PortSwigger",
     f"{POST}Content-Length: {len(SMUGGLE_CHUNK)}\r\nTransfer_Encoding: chunked\r\n\r\n"
     f"{SMUGGLE_CHUNK}", "ok open", smuggle=True,
     note="a different field: the body is the Content-Length's")
case("TE: chunked on HTTP/1.0", "9112 §6.1",
     f"POST /plaintext HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n{SMUGGLE_CHUNK}",
     "400 close", "ok close", smuggle=True,
     note="MUST treat the framing as faulty and close after processing; strict: 400")
case("TE.0: OPTIONS with a chunked body", "PortSwigger TE.0",
     f"OPTIONS /plaintext HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n{SMUGGLE_CHUNK}",
     "ok|501 open", smuggle=True, note="the chunked body is read whatever the method")
case("chunked body then a pipelined request", "9112 §9.3",
     f"{CHUNKED}{BODY_OK}{GET}\r\n", "ok ok? open",
     note="the second request is answered, unless the server closed after answering the first "
     "without reading its body")

# --- Chunked syntax (RFC 9112 §7.1) ----------------------------------------------------------
case("chunked", "9112 §7.1", f"{CHUNKED}{BODY_OK}", "ok open")
case("two chunks", "9112 §7.1", f"{CHUNKED}3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", "ok open")
case("uppercase hex size", "9112 §7.1", f"{CHUNKED}A\r\n{'x' * 10}\r\n0\r\n\r\n", "ok open")
case("chunk size with leading zeros", "9112 §7.1", f"{CHUNKED}0003\r\nabc\r\n0\r\n\r\n",
     "ok open")
case("chunk size with 20 leading zeros", "9112 §7.1",
     f"{CHUNKED}{'0' * 20}3\r\nabc\r\n0\r\n\r\n", "ok|400 any",
     note="valid 1*HEXDIG; a server guarding against overlong sizes by digit count MAY refuse")
case("chunk-ext name=value", "9112 §7.1.1", f"{CHUNKED}3;a=b\r\nabc\r\n0\r\n\r\n", "ok open")
case("chunk-ext name only", "9112 §7.1.1", f"{CHUNKED}3;a\r\nabc\r\n0\r\n\r\n", "ok open")
case("chunk-ext BWS before ;", "9112 §7.1.1", f"{CHUNKED}3 ;a\r\nabc\r\n0\r\n\r\n", "ok open",
     note="BWS is allowed before ';', so '3 ;a' is legal")
case("chunk-ext BWS around =", "9112 §7.1.1", f"{CHUNKED}3; a = b\r\nabc\r\n0\r\n\r\n",
     "ok open")
case("chunk-ext quoted value", "9112 §7.1.1", f"{CHUNKED}3;a=\"b c\"\r\nabc\r\n0\r\n\r\n",
     "ok open")
case("chunk-ext on the last chunk", "9112 §7.1.1", f"{CHUNKED}3\r\nabc\r\n0;a=b\r\n\r\n",
     "ok open")
case("chunk-ext empty name", "9112 §7.1.1", f"{CHUNKED}3;\r\nabc\r\n0\r\n\r\n{SMUGGLED}",
     BODY_ERR, smuggle=True)
case("chunk-ext empty value", "9112 §7.1.1", f"{CHUNKED}3;a=\r\nabc\r\n0\r\n\r\n{SMUGGLED}",
     BODY_ERR, smuggle=True)
case("spaces after the chunk size", "9112 §7.1", f"{CHUNKED}3  \r\nabc\r\n0\r\n\r\n{SMUGGLED}",
     BODY_ERR, smuggle=True, note="BWS is allowed only before ';': '3  ' then CRLF is invalid")
case("HTAB after the chunk size", "9112 §7.1", f"{CHUNKED}3\t\r\nabc\r\n0\r\n\r\n{SMUGGLED}",
     BODY_ERR, smuggle=True)
case("chunk size 0x3", "9112 §7.1", f"{CHUNKED}0x3\r\nabc\r\n0\r\n\r\n{SMUGGLED}", BODY_ERR,
     smuggle=True)
case("chunk size +3", "9112 §7.1", f"{CHUNKED}+3\r\nabc\r\n0\r\n\r\n{SMUGGLED}", BODY_ERR,
     smuggle=True)
case("chunk size -3", "9112 §7.1", f"{CHUNKED}-3\r\nabc\r\n0\r\n\r\n{SMUGGLED}", BODY_ERR,
     smuggle=True)
case("chunk size not hex", "9112 §7.1", f"{CHUNKED}zz\r\nabc\r\n0\r\n\r\n{SMUGGLED}",
     BODY_ERR, smuggle=True)
case("chunk size 3g", "9112 §7.1", f"{CHUNKED}3g\r\nabc\r\n0\r\n\r\n{SMUGGLED}", BODY_ERR,
     smuggle=True)
case("empty chunk-size line", "9112 §7.1", f"{CHUNKED}\r\nabc\r\n0\r\n\r\n{SMUGGLED}",
     BODY_ERR, smuggle=True)
case("chunk size past 2^64", "9112 §7.1",
     f"{CHUNKED}{'F' * 17}\r\nabc\r\n0\r\n\r\n{SMUGGLED}", "400|413|ok close", smuggle=True,
     note="MUST not overflow: 400 or 413, and close")
case("chunk size over the body limit", "9110 §15.5.14",
     f"{CHUNKED}{16 * 1024 * 1024 + 1:x}\r\nabc", "400|413|ok close",
     note="413 once the limit is passed (or the app's answer if it reads no body), then close")
case("chunk data without its CRLF", "9112 §7.1",
     f"{CHUNKED}3\r\nabc0\r\n\r\n{SMUGGLED}", BODY_ERR, smuggle=True)
case("chunk data longer than its size", "9112 §7.1",
     f"{CHUNKED}3\r\nabcdef\r\n0\r\n\r\n{SMUGGLED}", BODY_ERR, smuggle=True)
case("bare LF after the chunk size", "9112 §7.1",
     f"{CHUNKED}3\nabc\r\n0\r\n\r\n{SMUGGLED}", BODY_ERR, smuggle=True,
     note="the bare-LF leniency of §2.2 covers start-line and fields only (erratum 7633)")
case("bare LF after chunk data", "9112 §7.1", f"{CHUNKED}3\r\nabc\n0\r\n\r\n{SMUGGLED}",
     BODY_ERR, smuggle=True)
case("bare LF after the last chunk", "9112 §7.1", f"{CHUNKED}3\r\nabc\r\n0\n\r\n{SMUGGLED}",
     BODY_ERR, smuggle=True)
case("bare CR after the chunk size", "9112 §7.1",
     f"{CHUNKED}3\rabc\r\n0\r\n\r\n{SMUGGLED}", BODY_ERR, smuggle=True)
case("trailer field", "9112 §7.1.2", f"{CHUNKED}3\r\nabc\r\n0\r\nX-T: v\r\n\r\n", "ok open")
case("Content-Length in a trailer", "9112 §7.1.2",
     f"{CHUNKED}3\r\nabc\r\n0\r\nContent-Length: 5\r\n\r\n", "400|ok close", "ok any",
     note="framing fields are forbidden in trailers; the recipient MAY discard or refuse; "
     "strict: 400 (or the app's answer then close)")
case("Transfer-Encoding in a trailer", "9112 §7.1.2",
     f"{CHUNKED}3\r\nabc\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n", "400|ok close", "ok any",
     note="as above")
case("Host in a trailer", "9110 §6.5.1", f"{CHUNKED}3\r\nabc\r\n0\r\nHost: b\r\n\r\n",
     "400|ok any", note="routing fields do not belong in trailers: MAY discard or refuse")
case("obs-fold in a trailer", "9112 §5.2",
     f"{CHUNKED}3\r\nabc\r\n0\r\nX-T: v\r\n w\r\n\r\n{SMUGGLED}", BODY_ERR, "ok any",
     smuggle=True)
case("trailer without a colon", "9112 §7.1.2",
     f"{CHUNKED}3\r\nabc\r\n0\r\nX-T v\r\n\r\n{SMUGGLED}", BODY_ERR, smuggle=True)
case("space before a trailer's colon", "9112 §5.1",
     f"{CHUNKED}3\r\nabc\r\n0\r\nX-T : v\r\n\r\n{SMUGGLED}", BODY_ERR, smuggle=True)
case("request hidden in a chunk", "PortSwigger TE.CL",
     f"{CHUNKED}{SMUGGLE_CHUNK}", "ok open", smuggle=True,
     note="the chunk's data is body: one response")

# --- Connections, pipelining, Expect (RFC 9112 §9, RFC 9110 §10.1.1) -------------------------
case("two pipelined requests", "9112 §9.3", f"{GET}\r\n{GET}\r\n", "ok ok open")
case("three pipelined requests", "9112 §9.3", f"{GET}\r\n{GET}\r\n{GET}\r\n", "ok ok ok open")
case("pipelined, the second malformed", "9112 §9.3",
     f"{GET}\r\nGET /plaintext HTTP/1.1\r\nX-A : b\r\n{H}\r\n{SMUGGLED}", "ok 400 close",
     smuggle=True)
case("Connection: close", "9112 §9.6", f"{GET}Connection: close\r\n\r\n", "ok close")
case("a request after Connection: close", "9112 §9.6",
     f"{GET}Connection: close\r\n\r\n{SMUGGLED}", "ok close", smuggle=True,
     note="the server MUST NOT process further requests")
case("Connection: CLOSE", "9110 §7.6.1", f"{GET}Connection: CLOSE\r\n\r\n", "ok close")
case("Connection: keep-alive, close", "9110 §7.6.1",
     f"{GET}Connection: keep-alive, close\r\n\r\n", "ok close")
case("HTTP/1.0 keep-alive", "9112 §9.3",
     "GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "ok any",
     note="the server MAY keep a 1.0 connection alive when asked to")
case("HTTP/1.0 keep-alive, pipelined", "9112 §9.3",
     "GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
     "GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "ok ok? any")
case("HTTP/1.0, a request after it", "9112 §9.3",
     f"GET /plaintext HTTP/1.0\r\n\r\n{SMUGGLED}", "ok close", smuggle=True,
     note="without keep-alive the server closes after the first response")
case("Expect: 100-continue", "9110 §10.1.1",
     [f"{POST}Content-Length: 3\r\nExpect: 100-continue\r\n\r\n", "abc"], "100? ok open",
     note="100 first, or the final answer at once (then the body that follows is read as "
     "body or the connection closed, never parsed as a request)")
case("Expect: 100-continue, body then a request", "9110 §10.1.1",
     [f"{POST}Content-Length: 3\r\nExpect: 100-continue\r\n\r\n", f"abc{GET}\r\n"],
     "100? ok ok? any",
     note="the request after the body is answered if the server read the body, not if it closed")
case("Expect: 100-continue on HTTP/1.0", "9110 §10.1.1",
     "POST /plaintext HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc",
     "ok close", note="MUST ignore the expectation: no 100 for a 1.0 client")
case("Expect: something else", "9110 §10.1.1", f"{GET}Expect: foo\r\n\r\n", "ok|417 any",
     note="MAY answer 417")
case("HEAD", "9110 §9.3.2", f"HEAD /plaintext HTTP/1.1\r\n{H}\r\n", "ok open", head=True)
case("Upgrade: h2c", "9113 §3.1", f"{GET}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
     "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n", "ok any",
     note="a server that does not do h2c ignores the upgrade")

# ---------------------------------------------------------------------------------------------
# Running one case.

# The errors after which a server must close: nothing after them may be answered.
FATAL = {400, 411, 413, 414, 431, 501, 505}


@dataclass
class Response:
    status: int
    headers: dict = field(default_factory=dict)


def parse_responses(buf, head_only):
    """The complete responses at the start of `buf`, and what is left (bytes, or None if the
    rest is not the start of an HTTP response)."""
    out = []
    while buf:
        end = buf.find(b"\r\n\r\n")
        m = re.match(rb"HTTP/\d\.\d (\d{3})", buf)
        if not m:
            if len(buf) >= 12:
                return out, None  # garbage
            return out, buf
        if end < 0:
            return out, buf
        status = int(m.group(1))
        headers = {}
        for line in buf[:end].split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
        rest = buf[end + 4:]
        if status < 200 or status in (204, 304) or head_only:
            body_len = 0
        elif headers.get("transfer-encoding", "").lower().endswith("chunked"):
            pos = 0
            while True:
                line_end = rest.find(b"\r\n", pos)
                if line_end < 0:
                    return out, buf
                size = int(rest[pos:line_end].split(b";")[0], 16)
                if size == 0:
                    # The trailer section ends at the first empty line.
                    tend = rest.find(b"\r\n\r\n", line_end)
                    if tend < 0:
                        return out, buf
                    body_len = tend + 4
                    break
                pos = line_end + 2 + size + 2
                if pos > len(rest):
                    return out, buf
        elif "content-length" in headers:
            body_len = int(headers["content-length"])
        else:
            body_len = None  # read until close
        if body_len is None:
            return out + [Response(status, headers)], b""
        if len(rest) < body_len:
            return out, buf
        out.append(Response(status, headers))
        buf = rest[body_len:]
    return out, buf


def parse_expect(spec):
    words = spec.split()
    conn = words[-1]
    assert conn in ("close", "open", "any"), spec
    return [(w.rstrip("?"), w.endswith("?")) for w in words[:-1]], conn


def status_matches(spec, status):
    for alt in spec.split("|"):
        if alt == "ok" and (200 <= status < 300 or status in (404, 405)):
            return True
        if alt.endswith("xx") and str(status)[0] == alt[0]:
            return True
        if alt.isdigit() and int(alt) == status:
            return True
    return False


def verdict_of(expect, got_statuses, conn, garbage):
    """'' if `got` meets `expect`, else why not."""
    specs, want_conn = expect
    if garbage:
        return "not HTTP"
    # Match the responses against the specs in order, optional ones may be skipped.
    i = 0
    for spec, optional in specs:
        if i < len(got_statuses) and status_matches(spec, got_statuses[i]):
            i += 1
        elif not optional:
            return "no answer" if i >= len(got_statuses) else f"status {got_statuses[i]}"
    if i < len(got_statuses):
        return "extra response"
    if want_conn == "close" and conn != "close":
        return "kept open"
    if want_conn == "open" and conn != "open":
        return "closed"
    return ""


def run_case(c, host, port, mode, timeout):
    parts = c.data if isinstance(c.data, list) else [c.data]
    specs, want_conn = parse_expect(c.expect(mode))
    needed = sum(1 for _, opt in specs if not opt)
    buf, conn, garbage, error = b"", "open", False, ""
    started = time.monotonic()
    try:
        s = socket.create_connection((host, port), timeout=timeout)
    except OSError as e:
        return c, [], "refused", False, str(e)
    with s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for n, part in enumerate(parts):
                if n:
                    # Between parts, take what has come (a 100 Continue, or an early answer).
                    s.settimeout(0.3)
                    try:
                        data = s.recv(65536)
                        if not data:
                            conn = "close"
                            break
                        buf += data
                    except socket.timeout:
                        pass
                s.sendall(part.encode("latin-1"))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed early (it may have answered already)
        deadline = started + timeout
        responses = []
        while conn != "close":
            responses, rest = parse_responses(buf, c.head)
            if rest is None:
                garbage = True
                break
            # Once the expected responses are in, wait a short while more for extras (or the
            # close); before that, wait up to the deadline.
            now = time.monotonic()
            wait = deadline - now
            if len(responses) >= needed and want_conn != "close":
                wait = min(wait, 0.5)
            if wait <= 0:
                break
            s.settimeout(wait)
            try:
                data = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                conn = "close"
                break
            if not data:
                conn = "close"
                break
            buf += data
        responses, rest = parse_responses(buf, c.head)
        if rest is None:
            garbage = True
    return c, [r.status for r in responses], conn, garbage, error


def describe(statuses, conn, garbage):
    got = ",".join(map(str, statuses)) or "—"
    if garbage:
        got += " +garbage"
    return f"{got} {conn}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="HOST:PORT")
    parser.add_argument("--expect", choices=["strict", "lenient"], default="strict")
    parser.add_argument("--report-only", action="store_true",
                        help="print the table, exit 0 whatever the answers")
    parser.add_argument("--only", help="run the cases whose name contains this word")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per case")
    parser.add_argument("--jobs", type=int, default=8, help="cases run at once")
    parser.add_argument("--title", default=None)
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    cases = [c for c in CASES if not args.only or args.only.lower() in c.name.lower()]
    if args.list:
        for c in cases:
            print(f"{c.name} | {c.ref} | {c.strict} | {c.lenient or ''}")
        return 0

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(
            lambda c: run_case(c, host or "127.0.0.1", int(port), args.expect, args.timeout),
            cases))
    elapsed = time.monotonic() - started

    failed, signals = 0, []
    print(f"### {args.title or args.target}: {len(cases)} cases, expectations `{args.expect}`\n")
    print("| # | case | ref | expected | got | verdict |")
    print("|---|---|---|---|---|---|")
    for n, (c, statuses, conn, garbage, error) in enumerate(results, 1):
        expect = c.expect(args.expect)
        why = error or verdict_of(parse_expect(expect), statuses, conn, garbage)
        # A response past those expected, or any response after an error that ends the
        # connection, means bytes were read as a request that should not have been.
        extra = why == "extra response" or any(
            s in FATAL and i < len(statuses) - 1 for i, s in enumerate(statuses))
        if c.smuggle and extra:
            signals.append(c.name)
        if why:
            failed += 1
        verdict = f"FAIL: {why}" if why else "pass"
        if c.smuggle and extra:
            verdict += " (smuggling signal)"
        name = c.name.replace("|", "\\|")
        print(f"| {n} | {name} | {c.ref} | `{expect}` | `{describe(statuses, conn, garbage)}` "
              f"| {verdict} |")
    print(f"\n{len(cases) - failed} passed, {failed} failed "
          f"({len(signals)} smuggling signals) in {elapsed:.1f} s")
    if signals:
        print("smuggling signals: " + "; ".join(signals))

    noted = [c for c in cases if c.note]
    if noted:
        print("\n#### Where the RFC allows more than one answer, or the case needs a word\n")
        print("| case | strict | lenient | note |")
        print("|---|---|---|---|")
        for c in noted:
            print(f"| {c.name} | `{c.strict}` | `{c.lenient or c.strict}` | {c.note} |")
    sys.stdout.flush()
    return 0 if args.report_only or failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
