//! WebSocket `/ws`: live platform events for signed-in clients. The request guard
//! authenticates the upgrade (session cookie or API key); here the `Origin`, when a
//! browser sends one, must be our own host (no cross-site socket hijacking).

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use poem::web::Data;
use poem::web::websocket::{Message, WebSocket};
use poem::{IntoResponse, Request, Response, handler};
use tokio::sync::broadcast::error::RecvError;

use crate::error::{Error, code};
use crate::events::{ConnectedEvent, Event, EventsDroppedEvent};
use crate::state::AppState;

fn same_origin(req: &Request) -> bool {
    let Some(origin) = req.headers().get("origin").and_then(|v| v.to_str().ok()) else {
        return true; // not a browser
    };
    let host = req
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    url::Url::parse(origin).ok().is_some_and(|u| {
        let origin_host = match u.port() {
            Some(port) => format!("{}:{port}", u.host_str().unwrap_or_default()),
            None => u.host_str().unwrap_or_default().to_string(),
        };
        origin_host == host
    })
}

#[handler]
pub async fn socket(req: &Request, ws: WebSocket, state: Data<&Arc<AppState>>) -> Response {
    if !same_origin(req) {
        return Error::forbidden("WebSocket origin not allowed")
            .with_code(code::WEBSOCKET_ORIGIN)
            .to_response();
    }
    let mut events = state.events.subscribe();
    ws.on_upgrade(move |socket| async move {
        let (mut sink, mut stream) = socket.split();
        let hello = Event::new(ConnectedEvent { message: "Listening for platform events".into() });
        if sink.send(Message::Text(serde_json::to_string(&hello).unwrap_or_default())).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(event) => {
                        let text = serde_json::to_string(&event).unwrap_or_default();
                        if sink.send(Message::Text(text)).await.is_err() {
                            break;
                        }
                    }
                    // A slow client missed some events: tell it, keep going.
                    Err(RecvError::Lagged(missed)) => {
                        let note = Event::new(EventsDroppedEvent { message: format!("{missed} events were dropped") });
                        if sink.send(Message::Text(serde_json::to_string(&note).unwrap_or_default())).await.is_err() {
                            break;
                        }
                    }
                    Err(RecvError::Closed) => break,
                },
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Ping(payload))) => {
                        if sink.send(Message::Pong(payload)).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {} // clients have nothing to say
                },
            }
        }
    })
    .into_response()
}
