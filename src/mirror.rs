//! A static HTTP mirror (range requests, as a distribution's mirror serves them) for the demo,
//! the tests and a LAN; it counts the bytes it serves, so a test can see how much load the
//! swarm took off the mirror. A fault drill can make it serve one range wrong, once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::services::ServeDir;

#[derive(Default)]
struct Counters {
    bytes: AtomicU64,
    requests: AtomicU64,
    /// Serve the next ranged response for a path ending so with its bytes flipped.
    corrupt: Mutex<Option<String>>,
}

/// A running mirror; it stops when dropped.
pub struct MirrorServer {
    addr: SocketAddr,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl MirrorServer {
    /// Serves the folder `root` on `addr` (port 0 picks one).
    pub async fn start(root: &Path, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let counters: Arc<Counters> = Default::default();
        let app = axum::Router::new()
            .fallback_service(ServeDir::new(PathBuf::from(root)))
            .layer(middleware::from_fn_with_state(counters.clone(), count));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(MirrorServer {
            addr,
            counters,
            task,
        })
    }

    /// The URL of the served folder, ending in a slash.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Body bytes served so far.
    pub fn bytes_served(&self) -> u64 {
        self.counters.bytes.load(Ordering::Relaxed)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::Relaxed)
    }

    /// Fault drill: the next ranged response for a path ending in `suffix` has its bytes flipped.
    pub fn corrupt_next_range(&self, suffix: &str) {
        *self.counters.corrupt.lock().unwrap() = Some(suffix.to_owned());
    }
}

impl Drop for MirrorServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn count(State(c): State<Arc<Counters>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let ranged = req.headers().contains_key(header::RANGE);
    let resp = next.run(req).await;
    c.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(len) = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        c.bytes.fetch_add(len, Ordering::Relaxed);
    }
    let hit = ranged
        && resp.status() == StatusCode::PARTIAL_CONTENT
        && c.corrupt
            .lock()
            .unwrap()
            .take_if(|s| path.ends_with(s.as_str()))
            .is_some();
    if !hit {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => {
            let flipped: Vec<u8> = bytes.iter().map(|b| b ^ 0x5a).collect();
            Response::from_parts(parts, Body::from(flipped))
        }
        Err(_) => Response::from_parts(parts, Body::empty()),
    }
}
