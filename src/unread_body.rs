//! Answers given before the request body was read to its end. hyper then closes the
//! connection after the answer without saying so, and a client that reuses it loses its
//! next request. So every such answer either drains the small rest of the body first,
//! which keeps the connection usable, or says `Connection: close`.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;
use http_body::{Frame, SizeHint};

/// At most this much of an unread body is read and dropped to keep a connection.
const DRAIN_BYTES: u64 = 64 * 1024;
/// How long draining may delay the answer.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Runs the request with its body in a slot shared with the handler, and looks at what
/// is left in the slot once the answer is ready.
pub async fn settle_unread_body(request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let slot = Slot(Arc::new(Mutex::new(Some(body))));
    let request = Request::from_parts(parts, Body::new(SharedBody(slot.clone())));
    let mut response = next.run(request).await;
    let Some(rest) = slot.lock().take() else {
        return response;
    };
    let small = rest
        .size_hint()
        .upper()
        .is_none_or(|remaining| remaining <= DRAIN_BYTES);
    if !(small && drain(rest).await) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads the rest of a body within the limits; true when it ended.
async fn drain(body: Body) -> bool {
    let mut stream = body.into_data_stream();
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    let mut drained: u64 = 0;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(None) => return true,
            Ok(Some(Ok(chunk))) => {
                drained += chunk.len() as u64;
                if drained > DRAIN_BYTES {
                    return false;
                }
            }
            Ok(Some(Err(_))) | Err(_) => return false,
        }
    }
}

/// The request body until it ends (or fails); empty afterwards.
#[derive(Clone)]
struct Slot(Arc<Mutex<Option<Body>>>);

impl Slot {
    fn lock(&self) -> MutexGuard<'_, Option<Body>> {
        // a panic while polling leaves a body that is as good as any
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What the handler reads: the body in the slot.
struct SharedBody(Slot);

impl HttpBody for SharedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut slot = self.0.lock();
        let Some(body) = slot.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            *slot = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.0.lock().as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.0
            .lock()
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}
