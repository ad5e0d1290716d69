//! The controller's HTTP listener: `/metrics`, `/healthz`, `/readyz`, and a read-only API —
//! the current plan, the revisions seen, and a Server-Sent Events stream of decisions.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::Shared;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/plan", get(plan))
        .route("/api/v1/revisions", get(revisions))
        .route("/api/v1/events", get(events))
        .with_state(shared)
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}

async fn readyz(State(s): State<Arc<Shared>>) -> Response {
    if s.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for the first cluster reading and an accepted revision\n",
        )
            .into_response()
    }
}

fn json(text: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], text).into_response()
}

async fn plan(State(s): State<Arc<Shared>>) -> Response {
    let plan = s.plan.lock().map(|p| p.clone()).unwrap_or_default();
    if plan.is_empty() {
        return (StatusCode::SERVICE_UNAVAILABLE, "no plan yet\n").into_response();
    }
    json(plan)
}

async fn revisions(State(s): State<Arc<Shared>>) -> Response {
    let list: Vec<_> = s
        .revisions
        .lock()
        .map(|r| r.iter().cloned().collect())
        .unwrap_or_default();
    json(serde_json::to_string_pretty(&list).unwrap_or_default() + "\n")
}

async fn events(
    State(s): State<Arc<Shared>>,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    let rx = s.events.subscribe();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(data) => return Some((Ok(Event::default().data(data)), rx)),
                // A slow reader misses events rather than holding the controller back.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
