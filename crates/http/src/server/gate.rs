//! The request gate: what hyper is allowed to read.
//!
//! hyper parses HTTP/1.1 as RFC 9112 permits, which is more leniently than a front proxy may:
//! a bare LF ends a line, spaces may follow a chunk size, two equal `Content-Length`s count as
//! one, `Transfer-Encoding` overrides a `Content-Length`. Where a proxy and the server frame
//! one byte stream differently, requests can be smuggled past the proxy. And hyper answers
//! every limit it meets with a bare `431`, a 64 KiB request line included. So the bytes a
//! connection reads pass this gate before hyper sees them:
//!
//! - **Heads pass whole.** A head is held until its empty line has arrived, then checked
//!   line by line: the limits (request line → `414`, head size and field count → `431`,
//!   declared body size → `413`), and in strict mode ([`ServerConfig::strict`]) every
//!   leniency above (→ `400`). Only a head that passes is handed to hyper.
//! - **Framing is followed** as hyper follows it (`Transfer-Encoding: chunked`, else
//!   `Content-Length`, else none), so body bytes are skipped by count and only chunk-size
//!   lines and trailers are looked at. A last chunk is held with its trailers until they end.
//! - **A refused request** is replaced by a *stand-in* head, and the refusal is published
//!   with the stand-in's number: the server answers that request with the error, rendered
//!   by its [`ErrorRenderer`](super::ErrorRenderer), after the answers to the requests
//!   before it, with `Connection: close`. Everything after it is read and dropped.
//! - A body whose framing fails **after its head was handed over** (a chunk line that
//!   arrives later) is cut: hyper is given a chunk-size line it refuses, so the body read
//!   fails as for any malformed body. When the bad bytes arrive together with their head,
//!   the whole request is refused instead, so the client gets the `400`.
//!
//! The gate also counts exactly how many heads it handed over, which the write coalescer
//! needs (see `coalesce.rs`). A typical request costs one line-feed search per head line and
//! a length comparison per field name; a head split across reads is copied once.

use memchr::memchr;

use super::ServerError;

/// A head hyper parses and the server answers with the refusal instead of calling the
/// service. `Host` keeps it clear of the Host rules; the error is what is answered.
pub(crate) const STAND_IN: &[u8] = b"GET / HTTP/1.1\r\nHost: refused.invalid\r\n\r\n";

/// Capacity of the held buffer kept once it is empty again.
const KEPT_CAPACITY: usize = 4 * 1024;

/// Not a chunk size: hyper's chunked decoder fails on it, so the body read fails.
const CUT: &[u8] = b"!\r\n";

/// The limits and the rules, from the server's configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Largest head, request line and fields and the empty line (`431`); trailers likewise.
    pub(crate) max_head: usize,
    /// Longest request line, without its line end (`414`).
    pub(crate) max_request_line: usize,
    /// Most header fields (`431`); trailer fields likewise.
    pub(crate) max_fields: usize,
    /// Largest declared `Content-Length` (`413`).
    pub(crate) max_body: Option<u64>,
    /// Refuse what RFC 9112 permits but a front proxy may read differently.
    pub(crate) strict: bool,
}

/// Where bytes that passed go: hyper's read buffer (the room it has) in the server.
pub(crate) trait Deliver {
    /// Bytes that fit now.
    fn room(&self) -> usize;
    /// Hands over `bytes`, at most [`room`](Deliver::room) of them.
    fn put(&mut self, bytes: &[u8]);
}

/// What one [`Gate::feed`] let through, besides the bytes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Passed {
    /// Request heads handed over (a stand-in counts as one).
    pub(crate) heads: usize,
    /// Set once, when the gate closed.
    pub(crate) refused: Option<Refused>,
    /// The last head handed over asked to switch protocols: the gate now holds what follows
    /// (see [`Gate::is_suspended`]).
    pub(crate) suspended: bool,
}

/// Why the gate closed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The request was replaced by a stand-in (the last head handed over), to be answered
    /// with this error.
    Request(ServerError),
    /// A body whose head had already been handed over was cut, for this reason.
    Body(&'static str),
}

/// One connection's gate. See the module docs.
#[derive(Debug)]
pub(crate) struct Gate {
    limits: Limits,
    phase: Phase,
    /// The unfinished unit's bytes, from its first: a head, a chunk line, or a last chunk
    /// and its trailers. Empty while none is unfinished.
    held: Vec<u8>,
    /// Bytes that passed but did not fit in hyper's buffer; they go before anything else.
    ready: Vec<u8>,
}

#[derive(Debug)]
enum Phase {
    Head(HeadScan),
    /// A `Content-Length` body: bytes to skip.
    Body(u64),
    /// A chunk-size line (after the CRLF that ends the previous chunk's data, unless first).
    ChunkLine {
        after_data: bool,
        lines: Lines,
    },
    /// Chunk data: bytes to skip.
    ChunkData(u64),
    /// The last chunk's line has been read (it stays in the unit, held with the trailers);
    /// trailer fields follow until an empty line.
    Trailers {
        lines: Lines,
        fields: usize,
    },
    /// After a head that asked to switch protocols (`Upgrade`) and has no body: what follows
    /// may not be HTTP, so it is held unread until the server knows the answer — handed on
    /// with the connection after a `101`, scanned as requests again after anything else.
    Suspended,
    /// Refused: everything is dropped.
    Closed,
}

/// Where the line search of a unit stands, as offsets from the unit's first byte.
#[derive(Debug, Default, Clone, Copy)]
struct Lines {
    /// Where the current line starts.
    start: usize,
    /// Up to where the current line has been searched for its line feed.
    searched: usize,
}

impl Lines {
    /// The next complete line of `unit`: its content (without CRLF or LF) and whether it
    /// ended in a bare LF. `None` if its end has not arrived.
    fn next<'u>(&mut self, unit: &'u [u8]) -> Option<(&'u [u8], bool)> {
        match memchr(b'\n', &unit[self.searched..]) {
            None => {
                self.searched = unit.len();
                None
            }
            Some(i) => {
                let lf = self.searched + i;
                let line = &unit[self.start..lf];
                self.start = lf + 1;
                self.searched = lf + 1;
                Some(match line.split_last() {
                    Some((b'\r', content)) => (content, false),
                    _ => (line, true),
                })
            }
        }
    }
}

/// What a head's lines said so far.
#[derive(Debug, Default)]
struct HeadScan {
    lines: Lines,
    request_line: bool,
    http10: bool,
    fields: usize,
    content_lengths: usize,
    content_length: Option<u64>,
    /// Every `Transfer-Encoding` line seen, as hyper reads them: whether the last line's last
    /// coding is `chunked`, and whether all of them together are exactly one `chunked`.
    transfer_encoding: Option<Codings>,
    /// An `Upgrade` field was seen (hyper stops reading after such a request until answered).
    upgrade: bool,
}

#[derive(Debug, Clone, Copy)]
struct Codings {
    last_is_chunked: bool,
    only_chunked: bool,
    /// `chunked` more than once, on one line or across lines (RFC 9112 §6.1: an error).
    chunked_twice: bool,
    /// How many times `chunked` appears.
    chunks: usize,
    /// A coding that is not a token, or an empty list member.
    malformed: bool,
}

/// How a head's body is framed.
enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// What scanning a unit came to.
enum Scan<T> {
    /// The unit ended: its length, and what it said.
    Done(usize, T),
    /// More bytes are needed.
    More,
    Refuse(ServerError),
}

fn bad(reason: &'static str) -> ServerError {
    ServerError::BadRequest { reason }
}

impl Gate {
    pub(crate) fn new(limits: Limits) -> Gate {
        Gate {
            limits,
            phase: Phase::Head(HeadScan::default()),
            held: Vec::new(),
            ready: Vec::new(),
        }
    }

    /// Whether bytes that passed wait for room in hyper's buffer.
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Hands over what fits of the bytes that waited for room.
    pub(crate) fn deliver_ready(&mut self, out: &mut dyn Deliver) {
        let n = out.room().min(self.ready.len());
        out.put(&self.ready[..n]);
        self.ready.drain(..n);
    }

    /// Whether the gate refused a request and now drops what it is fed.
    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Whether the gate holds what follows a request that asked to switch protocols.
    pub(crate) fn is_suspended(&self) -> bool {
        matches!(self.phase, Phase::Suspended)
    }

    /// The request that asked to switch protocols was answered without switching: what
    /// followed it is scanned as requests, and what passes is handed to `out`.
    pub(crate) fn resume(&mut self, out: &mut dyn Deliver) -> Passed {
        self.phase = Phase::Head(HeadScan::default());
        self.feed(&[], out)
    }

    /// The bytes the gate holds, in the order they came, for a connection that switched
    /// protocols: what passed but did not fit in hyper's buffer, then what was held.
    pub(crate) fn into_unread(mut self) -> Vec<u8> {
        self.ready.append(&mut self.held);
        self.ready
    }

    /// Checks `new` bytes read from the client and hands over to `out` what passes.
    pub(crate) fn feed(&mut self, new: &[u8], out: &mut dyn Deliver) -> Passed {
        if self.held.is_empty() {
            let (consumed, passed) = self.run(new, out);
            self.held.extend_from_slice(&new[consumed..]);
            passed
        } else {
            let mut input = std::mem::take(&mut self.held);
            input.extend_from_slice(new);
            let (consumed, passed) = self.run(&input, out);
            input.drain(..consumed);
            // A slow client's long head must not stay reserved for the connection's life.
            if input.is_empty() && input.capacity() > KEPT_CAPACITY {
                input = Vec::new();
            }
            self.held = input;
            passed
        }
    }

    /// Checks `input` (the held unit, if any, then what was read) and hands over what passes;
    /// returns how much of it was consumed (the rest is an unfinished unit, to hold).
    fn run(&mut self, input: &[u8], out: &mut dyn Deliver) -> (usize, Passed) {
        if self.is_closed() {
            return (input.len(), Passed::default()); // dropped
        }
        let mut pos = 0;
        let mut heads = 0;
        // The request whose head has not been handed over yet (it starts in `input`), and
        // whether that head is complete (and so counted in `heads`).
        let mut unsent = matches!(self.phase, Phase::Head(_)).then_some(0);
        let mut unsent_complete = false;
        let limits = self.limits;
        let outcome = loop {
            if pos == input.len() && !matches!(self.phase, Phase::Head(_)) {
                break Ok(pos);
            }
            match &mut self.phase {
                Phase::Closed => unreachable!("a closed gate returns above"),
                Phase::Suspended => break Ok(pos),
                Phase::Body(remaining) | Phase::ChunkData(remaining) => {
                    let take = (*remaining).min((input.len() - pos) as u64);
                    pos += take as usize;
                    *remaining -= take;
                    if *remaining == 0 {
                        self.phase = match self.phase {
                            Phase::Body(_) => Phase::Head(HeadScan::default()),
                            _ => Phase::ChunkLine { after_data: true, lines: Lines::default() },
                        };
                    }
                }
                Phase::Head(head) => {
                    if pos == input.len() {
                        break Ok(pos);
                    }
                    if head.lines.start == 0 && head.lines.searched == 0 {
                        unsent = Some(pos);
                        unsent_complete = false;
                    }
                    match head.scan(&input[pos..], &limits) {
                        Scan::More => break Ok(pos),
                        Scan::Refuse(error) => break Err(Refused::Request(error)),
                        Scan::Done(len, framing) => {
                            heads += 1;
                            unsent_complete = true;
                            pos += len;
                            let upgrade = head.upgrade;
                            self.phase = match framing {
                                Framing::None | Framing::Length(0) if upgrade => Phase::Suspended,
                                Framing::None | Framing::Length(0) => {
                                    Phase::Head(HeadScan::default())
                                }
                                Framing::Length(n) => Phase::Body(n),
                                Framing::Chunked => {
                                    Phase::ChunkLine { after_data: false, lines: Lines::default() }
                                }
                            };
                        }
                    }
                }
                Phase::ChunkLine { after_data, lines } => {
                    let unit = &input[pos..];
                    if *after_data && lines.searched == 0 {
                        // The CRLF that ends a chunk's data.
                        if unit.len() < 2 {
                            if unit.first().is_some_and(|&b| b != b'\r') {
                                break Err(Refused::Body("chunk data not followed by CRLF"));
                            }
                            break Ok(pos);
                        }
                        if &unit[..2] != b"\r\n" {
                            break Err(Refused::Body("chunk data not followed by CRLF"));
                        }
                        *lines = Lines { start: 2, searched: 2 };
                    }
                    match chunk_line(lines, unit, &limits) {
                        Scan::More => break Ok(pos),
                        Scan::Refuse(error) => break Err(body_refusal(error)),
                        Scan::Done(len, 0) => {
                            let lines = Lines { start: len, searched: len };
                            self.phase = Phase::Trailers { lines, fields: 0 };
                        }
                        Scan::Done(len, size) => {
                            pos += len;
                            self.phase = Phase::ChunkData(size);
                        }
                    }
                }
                Phase::Trailers { lines, fields } => {
                    match trailers(lines, fields, &input[pos..], &limits) {
                        Scan::More => break Ok(pos),
                        Scan::Refuse(error) => break Err(body_refusal(error)),
                        Scan::Done(len, ()) => {
                            pos += len;
                            self.phase = Phase::Head(HeadScan::default());
                        }
                    }
                }
            }
        };

        match outcome {
            Ok(consumed) => {
                self.emit(out, &input[..consumed]);
                (consumed, Passed { heads, refused: None, suspended: self.is_suspended() })
            }
            Err(refused) => {
                self.phase = Phase::Closed;
                self.held.clear();
                let refused = match unsent {
                    // The request's head is still here: refuse the whole request.
                    Some(start) => {
                        self.emit(out, &input[..start]);
                        self.emit(out, STAND_IN);
                        if !unsent_complete {
                            heads += 1;
                        }
                        Refused::Request(match refused {
                            Refused::Request(error) => error,
                            Refused::Body(reason) => bad(reason),
                        })
                    }
                    // Its head went to hyper in an earlier read: cut the body where it broke.
                    None => {
                        self.emit(out, &input[..pos]);
                        self.emit(out, CUT);
                        refused
                    }
                };
                (input.len(), Passed { heads, refused: Some(refused), suspended: false })
            }
        }
    }

    /// Hands `bytes` to hyper, keeping what does not fit (after anything already waiting).
    fn emit(&mut self, out: &mut dyn Deliver, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let n = if self.ready.is_empty() { out.room().min(bytes.len()) } else { 0 };
        out.put(&bytes[..n]);
        self.ready.extend_from_slice(&bytes[n..]);
    }
}

/// A refusal found in a body: the reason, for the cut or for the stand-in's `400`.
fn body_refusal(error: ServerError) -> Refused {
    match error {
        ServerError::BadRequest { reason } => Refused::Body(reason),
        other => Refused::Request(other),
    }
}

impl HeadScan {
    /// Scans the head that starts `unit`, from where the last call stopped.
    fn scan(&mut self, unit: &[u8], limits: &Limits) -> Scan<Framing> {
        loop {
            let line_start = self.lines.start;
            let Some((line, bare_lf)) = self.lines.next(unit) else {
                if !self.request_line && unit.len() - line_start > limits.max_request_line {
                    return Scan::Refuse(ServerError::RequestLineTooLong {
                        limit: limits.max_request_line,
                    });
                }
                if unit.len() > limits.max_head {
                    return Scan::Refuse(ServerError::HeadTooLarge { limit: limits.max_head });
                }
                return Scan::More;
            };
            if self.lines.start > limits.max_head {
                return Scan::Refuse(ServerError::HeadTooLarge { limit: limits.max_head });
            }
            if bare_lf && limits.strict {
                return Scan::Refuse(bad("a line ends in a bare LF, not CRLF"));
            }
            if !self.request_line {
                if line.is_empty() {
                    continue; // RFC 9112 §2.2: empty lines before a request line are ignored
                }
                if line.len() > limits.max_request_line {
                    return Scan::Refuse(ServerError::RequestLineTooLong {
                        limit: limits.max_request_line,
                    });
                }
                self.request_line = true;
                self.http10 = line.ends_with(b" HTTP/1.0");
                if limits.strict {
                    if let Err(reason) = request_target(line) {
                        return Scan::Refuse(bad(reason));
                    }
                }
                continue;
            }
            if line.is_empty() {
                return match self.framing(limits) {
                    Ok(framing) => Scan::Done(self.lines.start, framing),
                    Err(error) => Scan::Refuse(error),
                };
            }
            self.fields += 1;
            if self.fields > limits.max_fields {
                return Scan::Refuse(ServerError::TooManyHeaders { limit: limits.max_fields });
            }
            if let Err(error) = self.field(line, limits) {
                return Scan::Refuse(error);
            }
        }
    }

    /// Looks at one field line; only the framing fields matter here (hyper checks the rest).
    fn field(&mut self, line: &[u8], limits: &Limits) -> Result<(), ServerError> {
        if line[0] == b' ' || line[0] == b'\t' {
            // obs-fold (RFC 9112 §5.2): hyper refuses it too; strict mode says why.
            return if limits.strict {
                Err(bad("a header line is folded (obs-fold)"))
            } else {
                Ok(())
            };
        }
        let Some(colon) = memchr(b':', line) else { return Ok(()) }; // hyper refuses it
        let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
        if name.eq_ignore_ascii_case(b"content-length") {
            self.content_lengths += 1;
            if limits.strict && self.content_lengths > 1 {
                return Err(bad("more than one Content-Length header"));
            }
            // One value of digits, in both modes: hyper's server reads a list ("3, 3") as
            // invalid too, so passing one would only get its bare 400 instead of ours.
            let length = digits(value);
            match (length, self.content_length) {
                (None, _) => return Err(bad("invalid Content-Length")),
                (Some(n), Some(m)) if n != m => {
                    return Err(bad("conflicting Content-Length headers"))
                }
                (Some(n), _) => self.content_length = Some(n),
            }
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            // As hyper reads it: an HTTP/1.1 request asking to switch (an HTTP/1.0 one cannot).
            self.upgrade = !self.http10;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let line_codings = codings(value);
            self.transfer_encoding = Some(match self.transfer_encoding {
                None => line_codings,
                Some(before) => Codings {
                    last_is_chunked: line_codings.last_is_chunked,
                    only_chunked: false,
                    chunked_twice: before.chunked_twice
                        || line_codings.chunked_twice
                        || (before.chunks > 0 && line_codings.chunks > 0),
                    chunks: before.chunks + line_codings.chunks,
                    malformed: before.malformed || line_codings.malformed,
                },
            });
        }
        Ok(())
    }

    /// How the body is framed, once every field has been seen: RFC 9112 §6.1 and §6.3.
    fn framing(&self, limits: &Limits) -> Result<Framing, ServerError> {
        if let Some(codings) = self.transfer_encoding {
            if self.http10 {
                return Err(bad("Transfer-Encoding in an HTTP/1.0 request"));
            }
            if codings.malformed {
                return Err(bad("invalid Transfer-Encoding"));
            }
            if !codings.last_is_chunked {
                return Err(bad("Transfer-Encoding does not end in chunked"));
            }
            if limits.strict {
                if self.content_lengths > 0 {
                    return Err(bad("both Content-Length and Transfer-Encoding"));
                }
                if codings.chunked_twice {
                    return Err(bad("chunked applied more than once"));
                }
                if !codings.only_chunked {
                    return Err(ServerError::UnsupportedTransferCoding);
                }
            }
            return Ok(Framing::Chunked);
        }
        match self.content_length {
            Some(n) if limits.max_body.is_some_and(|limit| n > limit) => {
                Err(ServerError::BodyTooLarge { limit: limits.max_body.unwrap_or(n) })
            }
            Some(n) => Ok(Framing::Length(n)),
            None => Ok(Framing::None),
        }
    }
}

/// The request target's form fits its method (RFC 9112 §3.2): origin-form (`/path`) for
/// most, asterisk-form (`*`) for `OPTIONS` only, authority-form (`host:port`) for `CONNECT`
/// only, absolute-form (`http://host/path`) without userinfo (RFC 9110 §4.2.4); never a
/// fragment. A line that is not `method SP target SP version` is left to hyper to refuse.
fn request_target(line: &[u8]) -> Result<(), &'static str> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (Some(method), Some(target), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
        return Ok(());
    };
    if target.contains(&b'#') {
        return Err("a fragment (#) in the request target");
    }
    if target.first() == Some(&b'/') {
        return Ok(());
    }
    if target == b"*" {
        return if method == b"OPTIONS" {
            Ok(())
        } else {
            Err("the asterisk-form target (*) is for OPTIONS only")
        };
    }
    if let Some(scheme_end) = memchr::memmem::find(target, b"://") {
        let rest = &target[scheme_end + 3..];
        let authority_end = rest.iter().position(|&b| b == b'/' || b == b'?').unwrap_or(rest.len());
        return if rest[..authority_end].contains(&b'@') {
            Err("userinfo (user@) in the request target")
        } else {
            Ok(())
        };
    }
    if method == b"CONNECT" {
        Ok(())
    } else {
        Err("the request target must start with / (an authority-form target is for CONNECT only)")
    }
}

/// The codings of one `Transfer-Encoding` line.
fn codings(value: &[u8]) -> Codings {
    let mut codings = Codings {
        last_is_chunked: false,
        only_chunked: true,
        chunked_twice: false,
        chunks: 0,
        malformed: false,
    };
    let mut count = 0;
    for coding in value.split(|&b| b == b',').map(trim_ows) {
        count += 1;
        // A coding may carry parameters (`;q=...`); only its name matters here.
        let name = trim_ows(coding.split(|&b| b == b';').next().unwrap_or_default());
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            codings.malformed = true;
        }
        codings.last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
        codings.only_chunked &= codings.last_is_chunked;
        codings.chunks += usize::from(codings.last_is_chunked);
    }
    codings.chunked_twice = codings.chunks > 1;
    codings.only_chunked &= count == 1;
    codings
}

/// The next line of a chunked body's unit, which must end in CRLF in both modes; refused
/// for `reasons.0` when the unit outgrows the head limit, for `reasons.1` on a bare LF.
fn crlf_line<'u>(
    lines: &mut Lines,
    unit: &'u [u8],
    limits: &Limits,
    reasons: (&'static str, &'static str),
) -> Scan<&'u [u8]> {
    match lines.next(unit) {
        None if unit.len() > limits.max_head => Scan::Refuse(bad(reasons.0)),
        None => Scan::More,
        Some((_, true)) => Scan::Refuse(bad(reasons.1)),
        Some((line, false)) => Scan::Done(lines.start, line),
    }
}

/// A chunk-size line (RFC 9112 §7.1): its length from the unit's start and the size.
fn chunk_line(lines: &mut Lines, unit: &[u8], limits: &Limits) -> Scan<u64> {
    // A bare LF: hyper refuses it as well, in both modes.
    let reasons = ("chunk-size line too long", "a chunk-size line ends in a bare LF");
    let line = match crlf_line(lines, unit, limits, reasons) {
        Scan::Done(_, line) => line,
        Scan::More => return Scan::More,
        Scan::Refuse(error) => return Scan::Refuse(error),
    };
    let digits_end = line.iter().position(|b| !b.is_ascii_hexdigit()).unwrap_or(line.len());
    if digits_end == 0 {
        return Scan::Refuse(bad("invalid chunk size"));
    }
    let mut size: u64 = 0;
    for &b in &line[..digits_end] {
        let digit = (b as char).to_digit(16).unwrap_or_default();
        match size.checked_mul(16).and_then(|s| s.checked_add(u64::from(digit))) {
            Some(s) => size = s,
            None => return Scan::Refuse(bad("chunk size too large")),
        }
    }
    let rest = &line[digits_end..];
    let valid = if limits.strict {
        chunk_extensions(rest)
    } else {
        // hyper's reading: spaces or tabs, then optionally `;` and anything.
        let after_ws = trim_ows_start(rest);
        after_ws.is_empty() || after_ws[0] == b';'
    };
    if !valid {
        return Scan::Refuse(bad("invalid chunk-size line"));
    }
    Scan::Done(lines.start, size)
}

/// `*( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )`, ext-val a token or quoted-string.
fn chunk_extensions(mut rest: &[u8]) -> bool {
    loop {
        if rest.is_empty() {
            return true;
        }
        // Whitespace (BWS) only before a `;`: "3 ;a" is a chunk line, "3 " is not.
        let Some(after) = trim_ows_start(rest).strip_prefix(b";") else { return false };
        rest = trim_ows_start(after);
        let name_len = rest.iter().take_while(|&&b| is_tchar(b)).count();
        if name_len == 0 {
            return false;
        }
        rest = trim_ows_start(&rest[name_len..]);
        if let Some(after) = rest.strip_prefix(b"=") {
            rest = trim_ows_start(after);
            if let Some(quoted) = rest.strip_prefix(b"\"") {
                let Some(len) = quoted_string_len(quoted) else { return false };
                rest = &quoted[len..];
            } else {
                let value_len = rest.iter().take_while(|&&b| is_tchar(b)).count();
                if value_len == 0 {
                    return false;
                }
                rest = &rest[value_len..];
            }
        }
    }
}

/// The length of a quoted-string's rest after its opening quote, through its closing one.
fn quoted_string_len(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Some(i + 1),
            b'\\' if i + 1 < bytes.len() => i += 2,
            b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff => i += 1,
            _ => return None,
        }
    }
    None
}

/// The trailer section after a last chunk (RFC 9112 §7.1.2), to its empty line: its end,
/// from the unit's start.
fn trailers(lines: &mut Lines, fields: &mut usize, unit: &[u8], limits: &Limits) -> Scan<()> {
    loop {
        // A bare LF: hyper looks for CRLF only, and would wait where we do not.
        let reasons = ("trailer section too large", "a trailer line ends in a bare LF");
        let line = match crlf_line(lines, unit, limits, reasons) {
            Scan::Done(_, line) => line,
            Scan::More => return Scan::More,
            Scan::Refuse(error) => return Scan::Refuse(error),
        };
        if line.is_empty() {
            return Scan::Done(lines.start, ());
        }
        *fields += 1;
        if *fields > limits.max_fields {
            return Scan::Refuse(bad("too many trailer fields"));
        }
        if limits.strict {
            if line[0] == b' ' || line[0] == b'\t' {
                return Scan::Refuse(bad("a trailer line is folded (obs-fold)"));
            }
            let name = &line[..memchr(b':', line).unwrap_or(line.len())];
            // RFC 9110 §6.5.1: framing and routing fields have no place in a trailer.
            for forbidden in [&b"content-length"[..], b"transfer-encoding", b"host", b"trailer"] {
                if name.eq_ignore_ascii_case(forbidden) {
                    return Scan::Refuse(bad("a framing or routing field in a trailer"));
                }
            }
        }
    }
}

/// A `Content-Length` value: 1*DIGIT, within u64.
fn digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

/// RFC 9110 §5.6.2's tchar.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim_ows_start(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(bytes.len());
    &bytes[start..]
}

/// `bytes` without the optional whitespace (spaces and tabs) around it.
fn trim_ows(bytes: &[u8]) -> &[u8] {
    let bytes = trim_ows_start(bytes);
    let end = bytes.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(0, |i| i + 1);
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_head: 256,
        max_request_line: 64,
        max_fields: 4,
        max_body: Some(1000),
        strict: true,
    };
    const LENIENT: Limits = Limits { strict: false, ..LIMITS };

    /// An unbounded read buffer, or one of `room` bytes a read.
    struct Out {
        bytes: Vec<u8>,
        room: usize,
    }

    impl Deliver for Out {
        fn room(&self) -> usize {
            self.room
        }
        fn put(&mut self, bytes: &[u8]) {
            assert!(bytes.len() <= self.room);
            self.bytes.extend_from_slice(bytes);
        }
    }

    /// Feeds `reads` one by one; returns what hyper was given, the heads counted and the
    /// refusal.
    fn feed(limits: Limits, reads: &[&[u8]]) -> (Vec<u8>, usize, Option<Refused>) {
        let mut gate = Gate::new(limits);
        let mut out = Out { bytes: Vec::new(), room: usize::MAX };
        let (mut heads, mut refused) = (0, None);
        for read in reads {
            let passed = gate.feed(read, &mut out);
            heads += passed.heads;
            if passed.refused.is_some() {
                assert!(refused.is_none(), "refused twice");
                refused = passed.refused;
            }
        }
        (out.bytes, heads, refused)
    }

    /// `input` fed whole, and split at every position into two reads, and one byte a read:
    /// the gate must come to the same answer however the bytes arrive — except that a bad
    /// chunk line that arrives after its head went to hyper cuts the body instead of
    /// refusing the request.
    fn every_split(limits: Limits, input: &[u8]) -> (Vec<u8>, usize, Option<Refused>) {
        let whole = feed(limits, &[input]);
        let agrees = |split: &(Vec<u8>, usize, Option<Refused>)| {
            *split == whole
                || matches!(
                    (&split.2, &whole.2),
                    (Some(Refused::Body(a)), Some(Refused::Request(ServerError::BadRequest { reason: b })))
                        if a == b && split.0.ends_with(CUT)
                )
        };
        for at in 0..input.len() {
            let split = feed(limits, &[&input[..at], &input[at..]]);
            assert!(
                agrees(&split),
                "split at {at} of {:?}: {split:?}",
                String::from_utf8_lossy(input)
            );
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert!(
            agrees(&feed(limits, &bytes)),
            "byte by byte: {:?}",
            String::from_utf8_lossy(input)
        );
        whole
    }

    fn refused_with(error: ServerError) -> Option<Refused> {
        Some(Refused::Request(error))
    }

    #[test]
    fn valid_requests_pass_unchanged_and_are_counted() {
        for target_form in [
            &b"OPTIONS * HTTP/1.1\r\n\r\n"[..],
            b"CONNECT a:443 HTTP/1.1\r\n\r\n",
            b"GET http://a:80/x?y HTTP/1.1\r\n\r\n",
            b"GET /?q=a@b HTTP/1.1\r\nTransfer-Encoding:  CHUNKED \r\n\r\n0\r\n\r\n",
        ] {
            assert_eq!(every_split(LIMITS, target_form), (target_form.to_vec(), 1, None));
        }
        let pipelined: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
            POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nGET /\
            POST /b HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\n\r\n\
            3;name=value ; q=\"x\\\"y\"\r\nabc\r\n0\r\nExpires: never\r\n\r\n\
            \r\nGET /c HTTP/1.1\r\nHost: a\r\n\r\n";
        let (bytes, heads, refused) = every_split(LIMITS, pipelined);
        assert_eq!((bytes.as_slice(), heads, refused), (pipelined, 4, None));
    }

    #[test]
    fn an_unfinished_head_is_held_and_not_counted() {
        let (bytes, heads, refused) = feed(LIMITS, &[b"GET / HTTP/1.1\r\nHost: a\r\n"]);
        assert_eq!((bytes, heads, refused), (Vec::new(), 0, None));
        let body_split =
            feed(LIMITS, &[b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab"]);
        assert_eq!(body_split.1, 1, "a head passes before its body is complete");
    }

    #[test]
    fn strict_mode_refuses_with_a_stand_in_after_the_requests_before() {
        let good = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let cases: &[(&[u8], ServerError)] = &[
            (b"GET / HTTP/1.1\nHost: a\n\n", bad("a line ends in a bare LF, not CRLF")),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\n", bad("a line ends in a bare LF, not CRLF")),
            (b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", bad("a header line is folded (obs-fold)")),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
                bad("more than one Content-Length header"),
            ),
            (b"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc", bad("invalid Content-Length")),
            (b"POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", bad("invalid Content-Length")),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                bad("both Content-Length and Transfer-Encoding"),
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                ServerError::UnsupportedTransferCoding,
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                bad("Transfer-Encoding does not end in chunked"),
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n",
                bad("Transfer-Encoding does not end in chunked"),
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: \x0bchunked\r\n\r\n",
                bad("invalid Transfer-Encoding"),
            ),
            (
                b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                bad("Transfer-Encoding in an HTTP/1.0 request"),
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3  \r\nabc\r\n0\r\n\r\n",
                bad("invalid chunk-size line"),
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n",
                bad("invalid chunk-size line"),
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
                bad("chunk data not followed by CRLF"),
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
                bad("chunk size too large"),
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n",
                bad("a framing or routing field in a trailer"),
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n",
                ServerError::BodyTooLarge { limit: 1000 },
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n",
                ServerError::BodyTooLarge { limit: 1000 },
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n",
                bad("invalid Content-Length"),
            ),
            (b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n", ServerError::RequestLineTooLong { limit: 64 }),
            (b"GET /a#b HTTP/1.1\r\n\r\n", bad("a fragment (#) in the request target")),
            (
                b"GET * HTTP/1.1\r\n\r\n",
                bad("the asterisk-form target (*) is for OPTIONS only"),
            ),
            (
                b"GET http://u@a/ HTTP/1.1\r\n\r\n",
                bad("userinfo (user@) in the request target"),
            ),
            (
                b"GET a:80 HTTP/1.1\r\n\r\n",
                bad("the request target must start with / (an authority-form target is for CONNECT only)"),
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                bad("chunked applied more than once"),
            ),
            (
                b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n",
                ServerError::TooManyHeaders { limit: 4 },
            ),
        ];
        for (bad_request, error) in cases {
            let input = [&good[..], bad_request, good].concat();
            let (bytes, heads, refused) = every_split(LIMITS, &input);
            let name = String::from_utf8_lossy(bad_request);
            assert_eq!(refused, refused_with(error.clone()), "{name}");
            assert_eq!(bytes, [&good[..], STAND_IN].concat(), "{name}");
            assert_eq!(heads, 2, "{name}");
        }
    }

    #[test]
    fn a_head_over_the_limit_is_refused_before_it_ends() {
        let long_value = "v".repeat(300);
        let head = format!("GET / HTTP/1.1\r\nX: {long_value}");
        let (bytes, heads, refused) = feed(LIMITS, &[head.as_bytes()]);
        assert_eq!(refused, refused_with(ServerError::HeadTooLarge { limit: 256 }));
        assert_eq!((bytes.as_slice(), heads), (STAND_IN, 1));
        // A request line is measured as it comes, too.
        let (_, _, refused) = feed(LIMITS, &[&[b'G'; 65][..]]);
        assert_eq!(refused, refused_with(ServerError::RequestLineTooLong { limit: 64 }));
    }

    #[test]
    fn a_body_that_breaks_after_its_head_went_to_hyper_is_cut() {
        let head: &[u8] = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let (bytes, heads, refused) = feed(LIMITS, &[head, b"3\r\nabc\r\n", b"2 \r\nab\r\n"]);
        assert_eq!(refused, Some(Refused::Body("invalid chunk-size line")));
        assert_eq!(bytes, [head, b"3\r\nabc", CUT].concat());
        assert_eq!(heads, 1);
        // Whatever comes after is dropped.
        let mut gate = Gate::new(LIMITS);
        let mut out = Out { bytes: Vec::new(), room: usize::MAX };
        gate.feed(head, &mut out);
        gate.feed(b"zz\r\n", &mut out);
        assert!(gate.is_closed());
        assert_eq!(gate.feed(b"GET / HTTP/1.1\r\n\r\n", &mut out), Passed::default());
    }

    #[test]
    fn lenient_mode_passes_what_hyper_reads_the_same_way() {
        for input in [
            &b"GET / HTTP/1.1\nHost: a\n\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\nContent-Length: 1\r\n\r\n",
        ] {
            let framed = [input, b"GET / HTTP/1.1\r\n\r\n"].concat();
            let (bytes, heads, refused) = every_split(LENIENT, &framed);
            assert_eq!((bytes, heads, refused), (framed.clone(), 2, None), "{framed:?}");
        }
        // What hyper refuses, or would read differently, is refused in both modes.
        for input in [
            &b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            b"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\n",
        ] {
            assert!(feed(LENIENT, &[input]).2.is_some(), "{input:?}");
        }
    }

    #[test]
    fn what_does_not_fit_in_hyper_s_buffer_waits_in_order() {
        let mut gate = Gate::new(LIMITS);
        let mut out = Out { bytes: Vec::new(), room: 10 };
        let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
        assert_eq!(gate.feed(input, &mut out).heads, 2);
        while gate.has_ready() {
            gate.deliver_ready(&mut out);
        }
        assert_eq!(out.bytes, input);
    }

    #[test]
    fn what_follows_an_upgrade_request_is_held_until_the_answer() {
        let head = b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n\r\n";
        let input = [&head[..], b"\x81\x05hello"].concat();
        // However the bytes arrive: the head passes, the frame after it is held unread.
        let (bytes, heads, refused) = every_split(LIMITS, &input);
        assert_eq!((bytes.as_slice(), heads, refused), (&head[..], 1, None));

        let mut gate = Gate::new(LIMITS);
        let mut out = Out { bytes: Vec::new(), room: usize::MAX };
        gate.feed(&input, &mut out);
        assert!(gate.is_suspended());
        // Switched: the held bytes go with the connection, unscanned.
        assert_eq!(gate.into_unread(), b"\x81\x05hello");

        // Not switched: what follows is scanned as requests again (here, refused).
        let mut gate = Gate::new(LIMITS);
        let mut out = Out { bytes: Vec::new(), room: usize::MAX };
        gate.feed(&[&head[..], b"GET / HTTP/1.1\nHost: t\n\n"].concat(), &mut out);
        let passed = gate.resume(&mut out);
        assert_eq!(passed.heads, 1, "the stand-in");
        assert!(matches!(passed.refused, Some(Refused::Request(ServerError::BadRequest { .. }))));
    }

    #[test]
    fn an_http10_request_or_one_with_a_body_does_not_suspend() {
        for input in [
            &b"GET / HTTP/1.0\r\nUpgrade: websocket\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: t\r\nUpgrade: x\r\nContent-Length: 2\r\n\r\nokGET / HTTP/1.1\r\nHost: t\r\n\r\n",
        ] {
            let (bytes, heads, refused) = every_split(LIMITS, input);
            assert_eq!((bytes.as_slice(), heads, refused), (input, 2, None));
        }
    }
}
