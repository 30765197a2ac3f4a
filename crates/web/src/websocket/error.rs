//! [`WsError`]: why a WebSocket could not receive or send.

use std::{fmt, io};

use async_tungstenite::tungstenite::error::{CapacityError, Error, ProtocolError};

use super::close_code;

/// Why a [`WebSocket`](super::WebSocket) could not receive or send.
///
/// The errors of [`recv`](super::WebSocket::recv) that the client caused have already been
/// answered when the session sees them: the socket was closed with the code the error names
/// ([`WsError::close_code`]) — 1009 for a message too big, 1002 for a broken protocol, 1007
/// for text that is not UTF-8 — and nothing more can be received. A session ends there.
#[derive(Debug)]
#[non_exhaustive]
pub enum WsError {
    /// The client sent a message, or a frame of one, larger than the route takes
    /// ([`WebSocketUpgrade::max_message_size`](super::WebSocketUpgrade::max_message_size),
    /// [`max_frame_size`](super::WebSocketUpgrade::max_frame_size)); closed with 1009.
    MessageTooBig {
        /// The size the client announced or reached, in bytes.
        size: usize,
        /// The limit it broke.
        limit: usize,
    },
    /// The client broke the protocol (an unmasked frame, reserved bits set, a fragmented
    /// control frame, ...); closed with 1002.
    Protocol(String),
    /// The client sent a text message that is not UTF-8; closed with 1007.
    InvalidUtf8,
    /// The socket is closed, or closing: a close frame was sent or received, so no more
    /// messages may be sent.
    Closed,
    /// The connection failed: the client went away without a close frame, or the network
    /// did. Nothing more can be sent or received.
    Io(io::Error),
    /// A close frame the protocol does not allow: a code that may not be sent
    /// ([`close_code::is_sendable`]) or a reason over 123 bytes. Nothing was sent: close with
    /// a valid one.
    InvalidClose(String),
    /// A ping or pong payload over 125 bytes (a control frame's limit). Nothing was sent.
    ControlTooLong(usize),
}

impl WsError {
    /// The code the socket was closed with because of this error, for those the client caused
    /// (1009, 1002, 1007); `None` for the others.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            WsError::MessageTooBig { .. } => Some(close_code::TOO_BIG),
            WsError::Protocol(_) => Some(close_code::PROTOCOL),
            WsError::InvalidUtf8 => Some(close_code::INVALID_DATA),
            _ => None,
        }
    }

    /// What reading a frame failed with, as the session sees it.
    pub(super) fn reading(error: Error) -> WsError {
        match error {
            Error::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
                WsError::MessageTooBig { size, limit: max_size }
            }
            Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                WsError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the client closed the connection without a close frame",
                ))
            }
            Error::Protocol(error) => WsError::Protocol(error.to_string()),
            Error::Utf8(_) => WsError::InvalidUtf8,
            Error::ConnectionClosed | Error::AlreadyClosed => WsError::Closed,
            Error::Io(error) => WsError::Io(error),
            other => WsError::Io(io::Error::other(other.to_string())),
        }
    }

    /// What writing a frame failed with, as the session sees it.
    pub(super) fn writing(error: Error) -> WsError {
        match error {
            Error::ConnectionClosed
            | Error::AlreadyClosed
            | Error::Protocol(ProtocolError::SendAfterClosing) => WsError::Closed,
            Error::Io(error) => WsError::Io(error),
            other => WsError::Io(io::Error::other(other.to_string())),
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::MessageTooBig { size, limit } => write!(
                f,
                "the client sent a message of {size} bytes, over the route's limit of {limit}; \
                 the socket was closed with 1009 (raise the limit with `max_message_size` / \
                 `max_frame_size` if such messages are expected)"
            ),
            WsError::Protocol(what) => {
                write!(f, "the client broke the WebSocket protocol ({what}); closed with 1002")
            }
            WsError::InvalidUtf8 => {
                f.write_str("the client sent a text message that is not UTF-8; closed with 1007")
            }
            WsError::Closed => f.write_str(
                "the WebSocket is closed (a close frame was sent or received): end the session",
            ),
            WsError::Io(error) => write!(f, "the WebSocket's connection failed: {error}"),
            WsError::InvalidClose(what) => write!(f, "cannot send this close frame: {what}"),
            WsError::ControlTooLong(len) => write!(
                f,
                "a ping or pong carries at most 125 bytes, not {len}: send the data as a message"
            ),
        }
    }
}

impl std::error::Error for WsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WsError::Io(error) => Some(error),
            _ => None,
        }
    }
}
