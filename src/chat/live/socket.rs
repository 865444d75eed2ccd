//! One WebSocket: authentication by its first message, resume, then the chats' events as
//! they happen, and the client's acknowledgements, reads and typing.
//!
//! Close codes: 4401 not authenticated (no valid `auth` message within a few seconds),
//! 4403 the session was revoked or the account deactivated, 4001 the access token
//! expired (refresh it and reconnect), 4008 too slow (the client did not read; reconnect
//! and resume), 4400 a message the server does not understand.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::events;
use super::hub::Signal;
use super::presence;
use super::protocol::{
    ClientMessage, Closing, ServerMessage, Sink, close, close_with, send, send_json,
};
use crate::auth::CurrentUser;
use crate::bus::Notice;
use crate::chat::repo;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// How long a new socket has to authenticate.
const AUTH_WITHIN: Duration = Duration::from_secs(5);
/// Pings go out this often; a socket silent for three of them is closed.
const HEARTBEAT: Duration = Duration::from_secs(25);
/// How often a socket checks that its session is still live.
const SESSION_CHECK: Duration = Duration::from_secs(30);
/// A chat further behind than this is not replayed: the client reloads it.
pub const MAX_REPLAY: i64 = 1000;
/// Largest message a client may send.
const MAX_CLIENT_MESSAGE: usize = 16 * 1024;
/// Typing notices relayed per socket and second.
const TYPING_PER_SECOND: u32 = 3;

/// The live chat socket. The first message must be
/// `{"type": "auth", "token": "<access token>", "resume": {"<chat id>": <seq>}}`.
#[utoipa::path(
    get,
    path = "/api/v1/ws",
    tag = "chat",
    responses(
        (status = 101, description = "switching to the WebSocket protocol"),
        (status = 400, description = "not a WebSocket handshake", body = crate::error::Problem),
    )
)]
pub async fn connect(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| async move {
            if let Err(err) = serve(state, socket).await {
                tracing::debug!(error = %err, "socket ended");
            }
        })
}

/// Where this socket is in each chat: the last sequence number it sent.
struct Positions(HashMap<i64, i64>);

async fn serve(state: AppState, socket: WebSocket) -> AppResult<()> {
    let (frames, mut stream) = socket.split();
    let mut sink = Sink::new(frames);
    let first = tokio::time::timeout(AUTH_WITHIN, stream.next()).await;
    let Ok(Some(Ok(Message::Text(text)))) = first else {
        close_with(
            &mut sink,
            Closing(close::UNAUTHENTICATED, "authenticate first"),
        )
        .await;
        return Ok(());
    };
    let Ok(ClientMessage::Auth { token, resume }) = serde_json::from_str(&text) else {
        close_with(
            &mut sink,
            Closing(close::UNAUTHENTICATED, "authenticate first"),
        )
        .await;
        return Ok(());
    };
    let Ok((user, expires_at)) = CurrentUser::from_token(&state, &token).await else {
        close_with(&mut sink, Closing(close::UNAUTHENTICATED, "invalid token")).await;
        return Ok(());
    };
    // registered before reading positions: a change committed meanwhile is announced
    let (socket_id, signals, first) =
        state
            .chat_hub
            .register(user.user_id, user.session_id, sink.dropped());
    state.bus.listen();
    if first && let Err(err) = presence::connected(&state, user.user_id).await {
        tracing::warn!(error = %err, "could not record a member online");
    }
    let result = run(
        &state,
        user,
        &token,
        expires_at,
        resume,
        &mut sink,
        &mut stream,
        signals,
    )
    .await;
    if state.chat_hub.unregister(user.user_id, socket_id)
        && let Err(err) = presence::disconnected(&state, user.user_id).await
    {
        tracing::warn!(error = %err, "could not record a member offline");
    }
    if let Err(closing) = result {
        close_with(&mut sink, closing).await;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn run(
    state: &AppState,
    user: CurrentUser,
    token: &str,
    expires_at: i64,
    resume: HashMap<String, i64>,
    sink: &mut Sink,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    mut signals: mpsc::Receiver<Signal>,
) -> Result<(), Closing> {
    let me = user.user_id;
    let internal = |_| Closing(1011, "internal error");
    // positions are fixed before `ready`: without a resume position a chat's events
    // start after `ready`, and anything older is history to load over HTTP
    let current = repo::my_chat_seqs(&state.reader, me)
        .await
        .map_err(internal)?;
    let mut positions = Positions(HashMap::new());
    let mut behind = Vec::new();
    for (chat_id, last_seq) in &current {
        let seen = resume
            .get(&chat_id.to_string())
            .copied()
            .unwrap_or(*last_seq)
            .clamp(0, *last_seq);
        if last_seq - seen > MAX_REPLAY {
            positions.0.insert(*chat_id, *last_seq);
            behind.push((*chat_id, *last_seq));
        } else {
            positions.0.insert(*chat_id, seen);
        }
    }
    send_json(sink, &ServerMessage::Ready { user_id: me }).await?;
    for (chat_id, last_seq) in behind {
        send_json(sink, &ServerMessage::ResyncRequired { chat_id, last_seq }).await?;
    }
    for chat_id in resume.keys().filter_map(|id| id.parse::<i64>().ok()) {
        if !current.contains_key(&chat_id) {
            send_json(sink, &ServerMessage::ChatRemoved { chat_id }).await?;
        }
    }
    let chat_ids: Vec<i64> = positions.0.keys().copied().collect();
    for chat_id in chat_ids {
        catch_up(state, me, chat_id, &mut positions, sink).await?;
    }

    let expiry = tokio::time::sleep(seconds_until(expires_at));
    tokio::pin!(expiry);
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut session_check = tokio::time::interval(SESSION_CHECK);
    session_check.reset();
    let mut silent_beats = 0u32;
    let mut typing_budget = (tokio::time::Instant::now(), 0u32);
    loop {
        tokio::select! {
            signal = signals.recv() => {
                match signal {
                Some(Signal::Changed { chat_id }) => {
                    follow(state, me, chat_id, &mut positions, sink).await?;
                }
                Some(Signal::Check { chat_id }) => {
                    if positions.0.contains_key(&chat_id) {
                        catch_up(state, me, chat_id, &mut positions, sink).await?;
                    }
                }
                Some(Signal::Recheck) => {
                    // a revocation may have been among the lost notices
                    if session_ended(state, token).await {
                        return Err(Closing(close::REVOKED, "session ended"));
                    }
                    recheck(state, me, &mut positions, sink).await?;
                }
                Some(Signal::Revoked) => return Err(Closing(close::REVOKED, "session ended")),
                Some(Signal::Typing { chat_id, user_id }) => {
                    if user_id != me && positions.0.contains_key(&chat_id) {
                        send_json(sink, &ServerMessage::Typing { chat_id, user_id }).await?;
                    }
                }
                Some(Signal::Presence(changes)) => {
                    send_json(sink, &ServerMessage::Presence { changes: &changes }).await?;
                }
                Some(Signal::Receipt { chat_id, user_id, read_seq, delivered_seq }) => {
                    if positions.0.contains_key(&chat_id) {
                        let receipt = ServerMessage::Receipt { chat_id, user_id, read_seq, delivered_seq };
                        send_json(sink, &receipt).await?;
                    }
                }
                // dropped by the hub: this socket's queue overflowed
                None => return Err(Closing(close::TOO_SLOW, "too slow")),
                }
            }
            incoming = stream.next() => {
                let Some(Ok(message)) = incoming else { return Ok(()) };
                silent_beats = 0;
                match message {
                    Message::Text(text) => {
                        let Ok(message) = serde_json::from_str::<ClientMessage>(&text) else {
                            return Err(Closing(close::BAD_MESSAGE, "unknown message"));
                        };
                        handle(state, me, message, &positions, sink, &mut typing_budget).await?;
                    }
                    Message::Close(_) => return Ok(()),
                    Message::Binary(_) => return Err(Closing(close::BAD_MESSAGE, "text messages only")),
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            _ = heartbeat.tick() => {
                silent_beats += 1;
                if silent_beats > 3 {
                    return Err(Closing(1001, "no heartbeat"));
                }
                send(sink, Message::Ping(Default::default())).await?;
            }
            _ = session_check.tick() => {
                if session_ended(state, token).await {
                    return Err(Closing(close::REVOKED, "session ended"));
                }
            }
            _ = &mut expiry => return Err(Closing(close::TOKEN_EXPIRED, "token expired")),
        }
    }
}

/// Whether the socket's session ended. A check that cannot be made now (Redis or the
/// database unreachable) ends nothing: the socket is checked again later.
async fn session_ended(state: &AppState, token: &str) -> bool {
    matches!(
        CurrentUser::from_token(state, token).await,
        Err(AppError::Unauthorized { .. })
    )
}

fn seconds_until(epoch_secs: i64) -> Duration {
    let now = chrono::Utc::now().timestamp();
    Duration::from_secs(u64::try_from(epoch_secs - now).unwrap_or(0))
}

async fn handle(
    state: &AppState,
    me: i64,
    message: ClientMessage,
    positions: &Positions,
    sink: &mut Sink,
    typing_budget: &mut (tokio::time::Instant, u32),
) -> Result<(), Closing> {
    match message {
        ClientMessage::Auth { .. } => {
            send_json(
                sink,
                &ServerMessage::Error {
                    code: "authenticated",
                    detail: "this socket is authenticated already".into(),
                },
            )
            .await
        }
        ClientMessage::Ping => send_json(sink, &ServerMessage::Pong).await,
        ClientMessage::Ack { chat_id, seq } | ClientMessage::Read { chat_id, seq }
            if !positions
                .0
                .get(&chat_id)
                .is_some_and(|sent| (0..=*sent).contains(&seq)) =>
        {
            send_json(
                sink,
                &ServerMessage::Error {
                    code: "bad_seq",
                    detail: format!("chat {chat_id} has sent no event {seq} here"),
                },
            )
            .await
        }
        ClientMessage::Ack { chat_id, seq } => acknowledge(state, me, chat_id, None, seq).await,
        ClientMessage::Read { chat_id, seq } => {
            acknowledge(state, me, chat_id, Some(seq), seq).await
        }
        ClientMessage::Typing { chat_id } => {
            if !positions.0.contains_key(&chat_id) {
                return Ok(());
            }
            let (since, count) = typing_budget;
            if since.elapsed() >= Duration::from_secs(1) {
                *since = tokio::time::Instant::now();
                *count = 0;
            }
            if *count < TYPING_PER_SECOND {
                *count += 1;
                state.bus.publish(Notice::Typing {
                    chat_id,
                    user_id: me,
                });
            }
            Ok(())
        }
    }
}

/// Moves my watermarks and, when they moved, tells the others.
async fn acknowledge(
    state: &AppState,
    me: i64,
    chat_id: i64,
    read_seq: Option<i64>,
    delivered_seq: i64,
) -> Result<(), Closing> {
    let moved = crate::chat::messages::advance(state, chat_id, me, read_seq, delivered_seq)
        .await
        .map_err(|_| Closing(1011, "internal error"))?;
    if moved {
        super::announce_receipt(state, chat_id, me).await;
    }
    Ok(())
}

/// Catches up every chat I am in now or this socket has: after announcements may have
/// been lost, this finds whatever they announced.
async fn recheck(
    state: &AppState,
    me: i64,
    positions: &mut Positions,
    sink: &mut Sink,
) -> Result<(), Closing> {
    let current = repo::my_chat_seqs(&state.reader, me)
        .await
        .map_err(|_| Closing(1011, "internal error"))?;
    let mut chat_ids: Vec<i64> = positions.0.keys().copied().collect();
    chat_ids.extend(current.keys().filter(|id| !positions.0.contains_key(id)));
    for chat_id in chat_ids {
        catch_up(state, me, chat_id, positions, sink).await?;
    }
    Ok(())
}

/// Sends a changed chat's new events from the chat's shared feed when this socket is
/// where the feed is and the events do not change my membership; otherwise reads the
/// log as `catch_up` does.
async fn follow(
    state: &AppState,
    me: i64,
    chat_id: i64,
    positions: &mut Positions,
    sink: &mut Sink,
) -> Result<(), Closing> {
    let Some(&position) = positions.0.get(&chat_id) else {
        return catch_up(state, me, chat_id, positions, sink).await;
    };
    let shared = state
        .chat_hub
        .feeds
        .after(state, chat_id, position)
        .await
        .map_err(|_| Closing(1011, "internal error"))?;
    let Some(shared) =
        shared.filter(|events| !events.iter().any(|shared| about_me(&shared.event, me)))
    else {
        return catch_up(state, me, chat_id, positions, sink).await;
    };
    for shared in &shared {
        send(sink, Message::Text(shared.frame.clone())).await?;
        positions.0.insert(chat_id, shared.event.seq);
    }
    Ok(())
}

/// Whether an event adds or removes me: the log then decides what I may see.
fn about_me(event: &events::LiveEvent, me: i64) -> bool {
    event.subject_id == Some(me)
        && [
            repo::event::PARTICIPANT_ADDED,
            repo::event::PARTICIPANT_REMOVED,
        ]
        .contains(&event.kind.as_str())
}

/// Sends the chat's events after this socket's position in it, in order; a chat I left
/// is announced as removed and forgotten.
async fn catch_up(
    state: &AppState,
    me: i64,
    chat_id: i64,
    positions: &mut Positions,
    sink: &mut Sink,
) -> Result<(), Closing> {
    let internal = |_| Closing(1011, "internal error");
    let Some((joined_seq, last_seq)) = repo::membership(&state.reader, chat_id, me)
        .await
        .map_err(internal)?
    else {
        if positions.0.remove(&chat_id).is_some() {
            send_json(sink, &ServerMessage::ChatRemoved { chat_id }).await?;
        }
        return Ok(());
    };
    // a chat new to this socket starts where I joined it
    let mut position = *positions.0.entry(chat_id).or_insert(joined_seq - 1);
    if last_seq - position > MAX_REPLAY {
        positions.0.insert(chat_id, last_seq);
        return send_json(sink, &ServerMessage::ResyncRequired { chat_id, last_seq }).await;
    }
    loop {
        let rows = events::after(&state.reader, chat_id, position)
            .await
            .map_err(internal)?;
        let complete = (rows.len() as u64) < events::BATCH;
        let rendered = events::render(state, chat_id, rows)
            .await
            .map_err(internal)?;
        for event in &rendered {
            send_json(sink, &ServerMessage::Event(event)).await?;
            position = event.seq;
            positions.0.insert(chat_id, position);
        }
        if complete {
            return Ok(());
        }
    }
}
