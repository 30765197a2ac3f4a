//! [`Message`] and [`CloseFrame`]: what a WebSocket carries, and the close codes of RFC 6455
//! §7.4 ([`close_code`]).

use std::fmt;

use async_tungstenite::tungstenite;
use bytes::Bytes;

pub use tungstenite::Utf8Bytes;

/// One WebSocket message, whole: a fragmented message arrives reassembled.
///
/// Text is [`Utf8Bytes`] (checked UTF-8 over shared bytes) and binary is [`Bytes`], so echoing
/// a message copies nothing. Pings and pongs are shown to the session for what they tell (a
/// pong answers a [`WebSocket::ping`](super::WebSocket::ping)); the pong a ping asks for is
/// sent without the session's help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8; one that is not closes the socket with 1007).
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping (payload at most 125 bytes), already answered.
    Ping(Bytes),
    /// A pong: the answer to a ping, or a one-way heartbeat.
    Pong(Bytes),
    /// The peer's close frame (`None` for a close without a code): the close handshake has
    /// begun, and the reply is sent for the session; [`WebSocket::recv`](super::WebSocket::recv)
    /// returns `None` next.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Message {
        Message::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Message {
        Message::Binary(data.into())
    }

    /// The text of a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(text) => Some(text.as_str()),
            _ => None,
        }
    }

    /// Whether this is a text or binary message (not a control frame).
    pub fn is_data(&self) -> bool {
        matches!(self, Message::Text(_) | Message::Binary(_))
    }

    /// The message as tungstenite sends it.
    pub(super) fn into_frame(self) -> tungstenite::Message {
        match self {
            Message::Text(text) => tungstenite::Message::Text(text),
            Message::Binary(data) => tungstenite::Message::Binary(data),
            Message::Ping(data) => tungstenite::Message::Ping(data),
            Message::Pong(data) => tungstenite::Message::Pong(data),
            Message::Close(frame) => tungstenite::Message::Close(frame.map(CloseFrame::into_frame)),
        }
    }

    /// A message as tungstenite read it (`None` for a raw frame, which reading never gives).
    pub(super) fn from_frame(message: tungstenite::Message) -> Option<Message> {
        Some(match message {
            tungstenite::Message::Text(text) => Message::Text(text),
            tungstenite::Message::Binary(data) => Message::Binary(data),
            tungstenite::Message::Ping(data) => Message::Ping(data),
            tungstenite::Message::Pong(data) => Message::Pong(data),
            tungstenite::Message::Close(frame) => Message::Close(
                frame.map(|frame| CloseFrame { code: frame.code.into(), reason: frame.reason }),
            ),
            tungstenite::Message::Frame(_) => return None,
        })
    }
}

impl From<String> for Message {
    fn from(text: String) -> Message {
        Message::Text(text.into())
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Message {
        Message::Text(text.into())
    }
}

impl From<Bytes> for Message {
    fn from(data: Bytes) -> Message {
        Message::Binary(data)
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Message {
        Message::Binary(data.into())
    }
}

/// A close frame: a code ([`close_code`]) and a reason of at most 123 bytes of UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// Why the socket closes: 1000 normal, 1001 going away, ... ([`close_code`]).
    pub code: u16,
    /// A reason for people, not programs (at most 123 bytes: a control frame's payload is at
    /// most 125, two of them the code).
    pub reason: Utf8Bytes,
}

impl CloseFrame {
    /// A close frame with this code and reason.
    pub fn new(code: u16, reason: impl Into<Utf8Bytes>) -> CloseFrame {
        CloseFrame { code, reason: reason.into() }
    }

    fn into_frame(self) -> tungstenite::protocol::CloseFrame {
        tungstenite::protocol::CloseFrame { code: self.code.into(), reason: self.reason }
    }
}

impl fmt::Display for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.code, self.reason.as_str())
    }
}

/// The close codes of RFC 6455 §7.4.1 a server uses, by name. A session may also send its own,
/// 3000–4999 (3000–3999 registered with IANA, 4000–4999 private).
pub mod close_code {
    /// The purpose of the connection is fulfilled.
    pub const NORMAL: u16 = 1000;
    /// The server is going down (a graceful shutdown), or the browser navigated away.
    pub const GOING_AWAY: u16 = 1001;
    /// The peer broke the protocol (an unmasked client frame, reserved bits set, ...).
    pub const PROTOCOL: u16 = 1002;
    /// A kind of data the endpoint cannot accept (say binary where only text is expected).
    pub const UNSUPPORTED: u16 = 1003;
    /// A message's data did not fit its type (text that is not UTF-8).
    pub const INVALID_DATA: u16 = 1007;
    /// A message broke the endpoint's policy (a generic refusal).
    pub const POLICY: u16 = 1008;
    /// A message (or one of its frames) was larger than the endpoint takes.
    pub const TOO_BIG: u16 = 1009;
    /// The server met a condition it did not expect (its session panicked).
    pub const INTERNAL: u16 = 1011;

    /// Whether a close frame may carry `code` (RFC 6455 §7.4): 1000–1003, 1007–1014 and
    /// 3000–4999. 1005, 1006 and 1015 only describe a close that had no frame.
    pub fn is_sendable(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}
