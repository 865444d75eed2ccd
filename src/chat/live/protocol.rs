//! What a socket and its client say to each other, and how it is sent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::events::LiveEvent;

/// A send the client does not take within this is a client too slow.
pub const SEND_WITHIN: Duration = Duration::from_secs(10);

pub mod close {
    pub const UNAUTHENTICATED: u16 = 4401;
    pub const REVOKED: u16 = 4403;
    pub const TOKEN_EXPIRED: u16 = 4001;
    pub const TOO_SLOW: u16 = 4008;
    pub const BAD_MESSAGE: u16 = 4400;
}

/// What a client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message: the access token, and the last sequence number seen per chat.
    Auth {
        token: String,
        #[serde(default)]
        resume: HashMap<String, i64>,
    },
    /// Events up to `seq` reached this device.
    Ack {
        chat_id: i64,
        seq: i64,
    },
    /// Read up to `seq`.
    Read {
        chat_id: i64,
        seq: i64,
    },
    Typing {
        chat_id: i64,
    },
    Ping,
}

/// One person's presence in a `presence` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresenceChange {
    pub user_id: i64,
    pub online: bool,
}

/// What the server sends besides events.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    Ready {
        user_id: i64,
    },
    Event(&'a LiveEvent),
    /// I am no longer in this chat.
    #[serde(rename = "chat.removed")]
    ChatRemoved {
        chat_id: i64,
    },
    /// Too far behind to replay: reload the chat over HTTP.
    ResyncRequired {
        chat_id: i64,
        last_seq: i64,
    },
    Typing {
        chat_id: i64,
        user_id: i64,
    },
    /// People I share a chat with came online or went offline: the changes of a short
    /// while in one message, the latest per person.
    Presence {
        changes: &'a [PresenceChange],
    },
    /// Another participant's watermarks moved.
    Receipt {
        chat_id: i64,
        user_id: i64,
        read_seq: i64,
        delivered_seq: i64,
    },
    Pong,
    Error {
        code: &'static str,
        detail: String,
    },
}

/// The sending half of a socket, and the hub's word that it dropped the socket.
pub struct Sink {
    frames: SplitSink<WebSocket, Message>,
    dropped: Arc<Notify>,
}

impl Sink {
    pub fn new(frames: SplitSink<WebSocket, Message>) -> Self {
        Self {
            frames,
            dropped: Arc::default(),
        }
    }

    /// What the hub wakes when it drops this socket.
    pub fn dropped(&self) -> Arc<Notify> {
        self.dropped.clone()
    }
}

pub struct Closing(pub u16, pub &'static str);

pub async fn send_json(sink: &mut Sink, message: &impl Serialize) -> Result<(), Closing> {
    let text = serde_json::to_string(message).map_err(|_| Closing(1011, "internal error"))?;
    send(sink, Message::Text(text.into())).await
}

/// Sends a frame. A client that does not take it within `SEND_WITHIN`, or that the hub
/// gave up on meanwhile (its queue overflowed while this send waited), is too slow.
pub async fn send(sink: &mut Sink, message: Message) -> Result<(), Closing> {
    let too_slow = Closing(close::TOO_SLOW, "too slow");
    tokio::select! {
        sent = tokio::time::timeout(SEND_WITHIN, sink.frames.send(message)) => match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Closing(1000, "gone")),
            Err(_) => Err(too_slow),
        },
        () = sink.dropped.notified() => Err(too_slow),
    }
}

pub async fn close_with(sink: &mut Sink, Closing(code, reason): Closing) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        sink.frames.send(Message::Close(Some(frame))),
    )
    .await;
}
