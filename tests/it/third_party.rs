//! Third-party BitTorrent programs from Debian, run as child processes on loopback for the
//! interop tests: opentracker, transmission-daemon and qbittorrent-nox, each with its own
//! folder, its own 127.0.0.N address and every discovery feature off. Their own counters (RPC and
//! Web API) are read with curl.
//!
//! Facts that shape these helpers (measured on Debian 12, see PLATFORM.md):
//! - Transmission 3.00 never dials a peer on 127/8 and keeps one connection per IP address: the
//!   other side must dial it, from an address of its own. So it announces first.
//! - Debian's opentracker serves whitelisted info hashes only, reads its whitelist after
//!   dropping root to `nobody` inside its folder (which must then be world-readable).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use swarmdate::torrent::InfoHash;

/// A free TCP port on `ip`.
pub fn free_port(ip: Ipv4Addr) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts TCP connections at `addr`.
fn wait_listening(addr: SocketAddr, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what} ended before listening on {addr}: {status}");
        }
        assert!(Instant::now() < deadline, "{what} never listened on {addr}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs curl with `args`, returning the body; panics with curl's error when it fails.
fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "-S", "-m", "20"])
        .args(args)
        .output()
        .expect("curl is installed");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A child process killed (and reaped) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A world-readable temporary folder (a program that drops root must still read it).
fn open_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Swarm figures a tracker reports for one torrent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scrape {
    /// Peers announcing with nothing left.
    pub complete: u64,
    /// Peers still downloading.
    pub incomplete: u64,
    /// Completed downloads announced.
    pub downloaded: u64,
}

/// Debian's opentracker on 127.0.0.1, serving the info hashes it was started with.
pub struct OpenTracker {
    port: u16,
    child: Running,
    dir: tempfile::TempDir,
}

impl OpenTracker {
    /// The announce URL a tracker on `port` has; reserve the port before the torrents exist.
    pub fn url_on(port: u16) -> String {
        format!("http://127.0.0.1:{port}/announce")
    }

    /// Starts it on `port`, accepting announces for `hashes` only.
    pub fn start(port: u16, hashes: &[InfoHash]) -> OpenTracker {
        let dir = open_dir();
        let list: String = hashes.iter().map(|h| format!("{h}\n")).collect();
        std::fs::write(dir.path().join("whitelist.txt"), list).unwrap();
        let conf = dir.path().join("opentracker.conf");
        std::fs::write(
            &conf,
            format!(
                "listen.tcp 127.0.0.1:{port}\ntracker.rootdir {}\naccess.whitelist whitelist.txt\naccess.stats 127.0.0.1\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let mut child = Command::new("opentracker")
            .arg("-f")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("opentracker is installed (scripts/setup.sh)");
        wait_listening(
            (Ipv4Addr::LOCALHOST, port).into(),
            "opentracker",
            &mut child,
        );
        OpenTracker {
            port,
            child: Running(child),
            dir,
        }
    }

    /// Accepts announces for one more torrent (the whitelist is read again on SIGHUP).
    pub fn allow(&self, hash: &InfoHash) {
        use std::io::Write;
        let mut list = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("whitelist.txt"))
            .unwrap();
        writeln!(list, "{hash}").unwrap();
        drop(list);
        let hup = Command::new("kill")
            .args(["-HUP", &self.child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(hup.success());
        // A leaving peer's announce has no effect but says whether the hash is served.
        let escaped: String = hash.0.iter().map(|b| format!("%{b:02x}")).collect();
        let probe = format!(
            "http://127.0.0.1:{}/announce?info_hash={escaped}&peer_id=-XX0000-probeprobepr&port=9&uploaded=0&downloaded=0&left=0&event=stopped&compact=1",
            self.port
        );
        wait_until(
            "opentracker to read its whitelist again",
            Duration::from_secs(10),
            || curl(&[&probe]),
            |body| !body.contains("failure reason"),
        );
    }

    /// What the tracker knows of one torrent (a scrape).
    pub fn scrape(&self, hash: &InfoHash) -> Scrape {
        let escaped: String = hash.0.iter().map(|b| format!("%{b:02x}")).collect();
        let body = curl(&[&format!(
            "http://127.0.0.1:{}/scrape?info_hash={escaped}",
            self.port
        )]);
        let field = |name: &str| {
            let key = format!("{}:{name}i", name.len());
            body.find(&key).map_or(0, |at| {
                let rest = &body[at + key.len()..];
                rest[..rest.find('e').unwrap()].parse().unwrap()
            })
        };
        Scrape {
            complete: field("complete"),
            incomplete: field("incomplete"),
            downloaded: field("downloaded"),
        }
    }

    /// Waits until the tracker lists at least `peers` peers of a torrent.
    pub fn wait_for_peers(&self, hash: &InfoHash, peers: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.scrape(hash);
            if s.complete + s.incomplete >= peers {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the tracker never saw {peers} peers of {hash}: {s:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// One torrent as a third-party client counts it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    /// Share of the payload it holds, verified (0 to 1).
    pub done: f64,
    /// Payload bytes it downloaded.
    pub downloaded: u64,
    /// Bytes it uploaded.
    pub uploaded: u64,
}

/// transmission-daemon 3.00 on its own loopback address, driven over its JSON RPC.
pub struct Transmission {
    rpc: String,
    session: std::sync::Mutex<String>,
    /// Where torrents download to unless told otherwise.
    pub downloads: PathBuf,
    _child: Running,
    _dir: tempfile::TempDir,
}

impl Transmission {
    /// Starts it with peers on `ip` (give it an address of its own: one connection per IP).
    pub fn start(ip: Ipv4Addr) -> Transmission {
        let dir = open_dir();
        let downloads = dir.path().join("downloads");
        std::fs::create_dir_all(&downloads).unwrap();
        let rpc_port = free_port(Ipv4Addr::LOCALHOST);
        let settings = json!({
            "bind-address-ipv4": ip.to_string(),
            "bind-address-ipv6": "::1",
            "dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
            "port-forwarding-enabled": false, "blocklist-enabled": false,
            "encryption": 0,
            "peer-port": free_port(ip), "peer-port-random-on-start": false,
            "download-dir": downloads, "incomplete-dir-enabled": false,
            "rpc-enabled": true, "rpc-bind-address": "127.0.0.1", "rpc-port": rpc_port,
            "rpc-authentication-required": false,
            "rpc-whitelist-enabled": true, "rpc-whitelist": "127.0.0.1",
            "rpc-host-whitelist-enabled": false,
            "start-added-torrents": true,
            "download-queue-enabled": false, "seed-queue-enabled": false,
            "queue-stalled-enabled": false,
            "ratio-limit-enabled": false, "idle-seeding-limit-enabled": false,
            "speed-limit-down-enabled": false, "speed-limit-up-enabled": false,
            "alt-speed-enabled": false,
        });
        let config = dir.path().join("config");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(config.join("settings.json"), settings.to_string()).unwrap();
        let mut child = Command::new("transmission-daemon")
            .arg("-f")
            .arg("-g")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("transmission-daemon is installed (scripts/setup.sh)");
        wait_listening(
            (Ipv4Addr::LOCALHOST, rpc_port).into(),
            "transmission-daemon",
            &mut child,
        );
        Transmission {
            rpc: format!("http://127.0.0.1:{rpc_port}/transmission/rpc"),
            session: Default::default(),
            downloads,
            _child: Running(child),
            _dir: dir,
        }
    }

    /// One RPC call; the session id it asks for is fetched and kept.
    fn call(&self, method: &str, arguments: Value) -> Value {
        let body = json!({ "method": method, "arguments": arguments }).to_string();
        for _ in 0..3 {
            let session = self.session.lock().unwrap().clone();
            let out = curl(&[
                "-i",
                "-H",
                &format!("X-Transmission-Session-Id: {session}"),
                "-d",
                &body,
                &self.rpc,
            ]);
            let (head, reply) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
            if head.starts_with("HTTP/1.1 409") {
                let id = head
                    .lines()
                    .find_map(|l| l.strip_prefix("X-Transmission-Session-Id: "))
                    .expect("a 409 names the session id");
                *self.session.lock().unwrap() = id.trim().to_owned();
                continue;
            }
            let v: Value = serde_json::from_str(reply).unwrap();
            assert_eq!(v["result"], "success", "transmission {method}: {v}");
            return v["arguments"].clone();
        }
        panic!("transmission kept asking for a new session id");
    }

    /// Adds a torrent that downloads to (or seeds from) `dir`.
    pub fn add(&self, torrent: &Path, dir: &Path) {
        // The daemon runs here: it reads the file itself.
        self.call(
            "torrent-add",
            json!({ "filename": torrent, "download-dir": dir, "paused": false }),
        );
    }

    /// Its counters for a torrent.
    pub fn counters(&self, hash: &InfoHash) -> Counters {
        let v = self.call(
            "torrent-get",
            json!({ "ids": [hash.to_string()],
                    "fields": ["percentDone", "downloadedEver", "uploadedEver", "error", "errorString"] }),
        );
        let t = &v["torrents"][0];
        assert_eq!(t["error"], 0, "transmission: {}", t["errorString"]);
        Counters {
            done: t["percentDone"].as_f64().unwrap(),
            downloaded: t["downloadedEver"].as_u64().unwrap(),
            uploaded: t["uploadedEver"].as_u64().unwrap(),
        }
    }
}

/// qbittorrent-nox 4.5 (libtorrent 2.0) on its own loopback address, driven over its Web API.
pub struct QBittorrent {
    api: String,
    /// Where torrents download to unless told otherwise.
    pub downloads: PathBuf,
    _child: Running,
    _dir: tempfile::TempDir,
}

impl QBittorrent {
    /// Starts it with peers on `ip`.
    pub fn start(ip: Ipv4Addr) -> QBittorrent {
        let dir = tempfile::tempdir().unwrap();
        let downloads = dir.path().join("downloads");
        std::fs::create_dir_all(&downloads).unwrap();
        let web = free_port(Ipv4Addr::LOCALHOST);
        let config = dir.path().join("qBittorrent/config");
        std::fs::create_dir_all(&config).unwrap();
        // Encryption off (Swarmdate speaks plain BitTorrent), one connection per peer address
        // and port, no discovery, no queueing, no ratio limit; the Web API without login on
        // localhost.
        let conf = format!(
            "[LegalNotice]\nAccepted=true\n\n[Network]\nPortForwardingEnabled=false\n\n\
             [BitTorrent]\nSession\\Port={}\nSession\\UseRandomPort=false\n\
             Session\\InterfaceAddress={ip}\nSession\\DHTEnabled=false\nSession\\PeXEnabled=false\n\
             Session\\LSDEnabled=false\nSession\\BTProtocol=TCP\nSession\\Encryption=2\n\
             Session\\AnonymousModeEnabled=false\nSession\\MultiConnectionsPerIp=true\n\
             Session\\IgnoreLimitsOnLAN=true\nSession\\BlockPeersOnPrivilegedPorts=false\n\
             Session\\QueueingSystemEnabled=false\nSession\\AddTorrentPaused=false\n\
             Session\\DefaultSavePath={}\nSession\\TempPathEnabled=false\n\
             Session\\AddExtensionToIncompleteFiles=false\nSession\\GlobalMaxRatio=-1\n\n\
             [Preferences]\nWebUI\\Enabled=true\nWebUI\\Address=127.0.0.1\nWebUI\\Port={web}\n\
             WebUI\\LocalHostAuth=false\nWebUI\\CSRFProtection=false\n\
             WebUI\\HostHeaderValidation=false\nWebUI\\UseUPnP=false\nGeneral\\Locale=en\n",
            free_port(ip),
            downloads.display()
        );
        std::fs::write(config.join("qBittorrent.conf"), conf).unwrap();
        let mut child = Command::new("qbittorrent-nox")
            .arg(format!("--profile={}", dir.path().display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("qbittorrent-nox is installed (scripts/setup.sh)");
        wait_listening(
            (Ipv4Addr::LOCALHOST, web).into(),
            "qbittorrent-nox",
            &mut child,
        );
        QBittorrent {
            api: format!("http://127.0.0.1:{web}/api/v2"),
            downloads,
            _child: Running(child),
            _dir: dir,
        }
    }

    /// Adds a torrent that downloads to (or seeds from, after its check) `dir`.
    pub fn add(&self, torrent: &Path, dir: &Path) {
        let said = curl(&[
            "-F",
            &format!("torrents=@{}", torrent.display()),
            "-F",
            &format!("savepath={}", dir.display()),
            &format!("{}/torrents/add", self.api),
        ]);
        assert_eq!(said.trim(), "Ok.", "qBittorrent refused the torrent");
    }

    /// Its counters for a torrent (they lag by about 1.5 s).
    pub fn counters(&self, hash: &InfoHash) -> Counters {
        let body = curl(&[&format!("{}/torrents/info?hashes={hash}", self.api)]);
        let v: Value = serde_json::from_str(&body).unwrap();
        let t = &v[0];
        assert!(t.is_object(), "qBittorrent does not know {hash}: {body}");
        Counters {
            done: t["progress"].as_f64().unwrap(),
            downloaded: t["downloaded"].as_u64().unwrap(),
            uploaded: t["uploaded"].as_u64().unwrap(),
        }
    }
}

/// Polls `read` until `done` holds for what it returns (or panics after `limit`).
pub fn wait_until<T: std::fmt::Debug>(
    what: &str,
    limit: Duration,
    mut read: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        let v = read();
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: still {v:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}
