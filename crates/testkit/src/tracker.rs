//! A small HTTP tracker (BEP 3, compact peers per BEP 23) for the demo, tests and a distributor's
//! seed box on a LAN. Real deployments may use any tracker (opentracker, aquatic).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::routing::get;
use serde::Serialize;

use swarmdate_core::torrent::InfoHash;

/// How often clients are asked to announce again.
const INTERVAL: Duration = Duration::from_secs(5);
/// Peers that have not announced for this long are forgotten.
const PEER_TTL: Duration = Duration::from_secs(120);

#[derive(Default)]
struct Swarm {
    peers: HashMap<[u8; 20], (SocketAddrV4, Instant, bool)>,
}

type Swarms = Arc<Mutex<HashMap<InfoHash, Swarm>>>;

/// A running tracker; it stops when dropped.
pub struct Tracker {
    addr: SocketAddr,
    swarms: Swarms,
    task: tokio::task::JoinHandle<()>,
}

impl Tracker {
    /// Starts a tracker on `addr` (port 0 picks one).
    pub async fn start(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let swarms: Swarms = Default::default();
        let app = axum::Router::new()
            .route("/announce", get(announce))
            .with_state(swarms.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        Ok(Tracker { addr, swarms, task })
    }

    /// The announce URL.
    pub fn announce_url(&self) -> String {
        format!("http://{}/announce", self.addr)
    }

    /// How many peers a swarm has now.
    pub fn peer_count(&self, hash: &InfoHash) -> usize {
        self.swarms
            .lock()
            .unwrap()
            .get(hash)
            .map_or(0, |s| s.peers.len())
    }

    /// How many peers of a swarm announced that they still download.
    pub fn leecher_count(&self, hash: &InfoHash) -> usize {
        self.swarms
            .lock()
            .unwrap()
            .get(hash)
            .map_or(0, |s| s.peers.values().filter(|p| !p.2).count())
    }

    /// Forgets every peer of a swarm (a benchmark starts each run afresh).
    pub fn forget(&self, hash: &InfoHash) {
        self.swarms.lock().unwrap().remove(hash);
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Serialize)]
struct Reply {
    complete: u32,
    incomplete: u32,
    interval: u64,
    #[serde(rename = "min interval")]
    min_interval: u64,
    peers: bencode::ByteBufOwned,
}

#[derive(Serialize)]
struct Failure<'a> {
    #[serde(rename = "failure reason")]
    reason: &'a str,
}

fn bencoded<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    bencode::bencode_serialize_to_writer(v, &mut out).expect("serializing to memory");
    out
}

/// Splits a raw query into decoded byte pairs (info_hash and peer_id are binary).
fn parse_query(q: &str) -> HashMap<String, Vec<u8>> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let v: Vec<u8> = percent_encoding::percent_decode_str(v).collect();
            (k.to_owned(), v)
        })
        .collect()
}

async fn announce(
    State(swarms): State<Swarms>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
) -> Vec<u8> {
    let q = parse_query(query.as_deref().unwrap_or(""));
    let field = |k: &str| q.get(k).map(|v| String::from_utf8_lossy(v).into_owned());
    let (Some(hash), Some(peer_id), Some(port)) = (
        q.get("info_hash")
            .and_then(|v| <[u8; 20]>::try_from(v.as_slice()).ok()),
        q.get("peer_id")
            .and_then(|v| <[u8; 20]>::try_from(v.as_slice()).ok()),
        field("port").and_then(|p| p.parse::<u16>().ok()),
    ) else {
        return bencoded(&Failure {
            reason: "info_hash, peer_id and port are required",
        });
    };
    let ip = field("ip")
        .and_then(|s| s.parse::<Ipv4Addr>().ok())
        .or(match remote.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(v6) => v6.to_ipv4_mapped(),
        })
        .unwrap_or(Ipv4Addr::LOCALHOST);
    let seeding = field("left").is_some_and(|l| l == "0");
    let stopped = field("event").is_some_and(|e| e == "stopped");

    let mut all = swarms.lock().unwrap();
    let swarm = all.entry(InfoHash(hash)).or_default();
    let now = Instant::now();
    swarm.peers.retain(|_, (_, seen, _)| now - *seen < PEER_TTL);
    if stopped {
        swarm.peers.remove(&peer_id);
    } else {
        swarm
            .peers
            .insert(peer_id, (SocketAddrV4::new(ip, port), now, seeding));
    }
    let mut compact = Vec::new();
    for (id, (addr, _, _)) in &swarm.peers {
        if *id != peer_id {
            compact.extend_from_slice(&addr.ip().octets());
            compact.extend_from_slice(&addr.port().to_be_bytes());
        }
    }
    let complete = swarm.peers.values().filter(|p| p.2).count() as u32;
    bencoded(&Reply {
        complete,
        incomplete: swarm.peers.len() as u32 - complete,
        interval: INTERVAL.as_secs(),
        min_interval: 1,
        peers: bencode::ByteBufOwned(compact.into()),
    })
}
