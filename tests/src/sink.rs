//! A sink provider: a local HTTP endpoint the notification service's webhook provider posts guest
//! messages to (configured as an operator would: `MAITRE_NOTIFICATION_WEBHOOK_URL` and
//! `MAITRE_NOTIFICATION_WEBHOOK_SECRET`). It records every post a real SMS provider would receive
//! and answers as one does, with its own id for the message.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::{Json, Router, extract::State, routing::post};
use serde_json::{Value, json};

/// The endpoint and what it received, in arrival order.
#[derive(Clone)]
pub struct Sink {
    /// The URL to configure as the webhook provider's.
    pub url: String,
    received: Arc<Mutex<Vec<Value>>>,
}

/// What the endpoint shares between requests: the record and how long it takes to answer.
#[derive(Clone)]
struct SinkState {
    received: Arc<Mutex<Vec<Value>>>,
    delay: Duration,
}

/// The signing secret the journeys configure.
pub const SINK_SECRET: &str = "journey-sink-secret";

async fn receive(State(state): State<SinkState>, Json(message): Json<Value>) -> Json<Value> {
    let id = format!(
        "sink-{}",
        message["message_id"].as_str().unwrap_or_default()
    );
    // Recorded on arrival, as a provider has the message once the request reached it, with the
    // arrival time (`received_at`, RFC 3339) so a journey can prove when it came.
    let mut message = message;
    if let Some(fields) = message.as_object_mut() {
        fields.insert("received_at".into(), json!(chrono::Utc::now().to_rfc3339()));
    }
    state.received.lock().expect("sink lock").push(message);
    if !state.delay.is_zero() {
        tokio::time::sleep(state.delay).await;
    }
    Json(json!({ "id": id }))
}

impl Sink {
    /// Starts the endpoint on a free loopback port; it runs until the test ends.
    pub async fn start() -> Sink {
        Self::start_answering_after(Duration::ZERO).await
    }

    /// [`Sink::start`] answering each post `delay` after recording it (a provider under load:
    /// sends are in flight long enough for a replica to be killed among them).
    pub async fn start_answering_after(delay: Duration) -> Sink {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/messages", post(receive))
            .with_state(SinkState {
                received: received.clone(),
                delay,
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the sink");
        let url = format!(
            "http://{}/messages",
            listener.local_addr().expect("sink address")
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Sink { url, received }
    }

    /// The notification settings pointing the webhook provider here.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MAITRE_NOTIFICATION_WEBHOOK_URL", self.url.clone()),
            ("MAITRE_NOTIFICATION_WEBHOOK_SECRET", SINK_SECRET.to_owned()),
        ]
    }

    /// Every message received, in arrival order.
    pub fn received(&self) -> Vec<Value> {
        self.received.lock().expect("sink lock").clone()
    }

    /// Every message received for `customer_id`, in arrival order.
    pub fn received_for(&self, customer_id: &str) -> Vec<Value> {
        self.received
            .lock()
            .expect("sink lock")
            .iter()
            .filter(|m| m["customer_id"] == customer_id)
            .cloned()
            .collect()
    }

    /// Waits (at most `seconds`) until the sink received a message for `customer_id`.
    pub async fn first_for(&self, customer_id: &str, seconds: u64) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            if let Some(first) = self.received_for(customer_id).into_iter().next() {
                return Some(first);
            }
            if tokio::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
