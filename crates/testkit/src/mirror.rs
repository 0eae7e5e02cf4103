//! A static HTTP mirror (range requests, as a distribution's mirror serves them) for the demo,
//! the tests and a LAN; it counts the bytes it serves, so a test can see how much load the
//! swarm took off the mirror. A fault drill can make it serve one range wrong, once; another makes
//! it a hostile mirror that answers ranges with an endless body.

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
    /// Answer every range short of the whole file, for a path ending so, with this many bytes.
    overserve: Mutex<Option<(String, u64)>>,
    /// Bytes of such answers the client took before it hung up.
    overserved: Arc<AtomicU64>,
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

impl MirrorServer {
    /// Fault drill, a hostile mirror: from now on every range of a path ending in `suffix` that
    /// is not the whole file keeps its status and Content-Range but streams `len` bytes of zeros
    /// with no Content-Length.
    pub fn overserve_ranges(&self, suffix: &str, len: u64) {
        *self.counters.overserve.lock().unwrap() = Some((suffix.to_owned(), len));
    }

    /// Bytes of overserved answers sent so far (as far as the client read them).
    pub fn overserved(&self) -> u64 {
        self.counters.overserved.load(Ordering::Relaxed)
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
    if ranged
        && resp.status() == StatusCode::PARTIAL_CONTENT
        && !whole_file(&resp)
        && let Some((_, len)) = c
            .overserve
            .lock()
            .unwrap()
            .clone()
            .filter(|(s, _)| path.ends_with(s.as_str()))
    {
        let (mut parts, _) = resp.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, endless(len, c.overserved.clone()));
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

/// Whether a 206 answer's Content-Range covers its whole file.
fn whole_file(resp: &Response) -> bool {
    let range = resp
        .headers()
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes "))
        .and_then(|v| v.split_once('/'));
    match range {
        Some((r, total)) => format!("0-{}", total.parse::<u64>().unwrap_or(0).wrapping_sub(1)) == r,
        None => false,
    }
}

/// `len` bytes of zeros in 64 KiB chunks, made only as the client reads, counted in `sent`.
fn endless(len: u64, sent: Arc<AtomicU64>) -> Body {
    const CHUNK: u64 = 64 << 10;
    let chunk = bytes::Bytes::from(vec![0u8; CHUNK as usize]);
    let stream = futures::stream::unfold(0u64, move |done| {
        let (chunk, sent) = (chunk.clone(), sent.clone());
        async move {
            let n = (len - done).min(CHUNK);
            (n > 0).then(|| {
                sent.fetch_add(n, Ordering::Relaxed);
                (
                    Ok::<_, std::convert::Infallible>(chunk.slice(..n as usize)),
                    done + n,
                )
            })
        }
    });
    Body::from_stream(stream)
}
