//! Third-party BitTorrent programs from Debian, run as child processes on loopback for the
//! interop tests and `bench clients`: opentracker, transmission-daemon and qbittorrent-nox, each
//! with its own folder, its own 127.0.0.N address and every discovery feature off. Their own
//! counters (RPC and Web API) are read with curl.
//!
//! Facts that shape these helpers (measured on Debian 12, see docs/platform.md §5):
//! - Transmission 3.00 never dials a peer on 127/8 and keeps one connection per IP address: the
//!   other side must dial it, from an address of its own. So it announces first.
//! - Debian's opentracker serves whitelisted info hashes only, reads its whitelist after
//!   dropping root to `nobody` inside its folder (which must then be world-readable).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

use swarmdate_core::torrent::InfoHash;

/// A free TCP port on `ip`.
pub fn free_port(ip: Ipv4Addr) -> anyhow::Result<u16> {
    Ok(TcpListener::bind((ip, 0))
        .with_context(|| format!("binding a port on {ip}"))?
        .local_addr()?
        .port())
}

/// Waits until something accepts TCP connections at `addr`.
fn wait_listening(addr: SocketAddr, what: &str, child: &mut Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Some(status) = child.try_wait()? {
            bail!("{what} ended before listening on {addr}: {status}");
        }
        ensure!(Instant::now() < deadline, "{what} never listened on {addr}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Runs curl with `args`, returning the body.
fn curl(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("curl")
        .args(["-s", "-S", "-m", "20"])
        .args(args)
        .output()
        .context("running curl (scripts/setup.sh installs it)")?;
    ensure!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Starts a program the setup script installs.
fn spawn(cmd: &mut Command, name: &str) -> anyhow::Result<Child> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {name} (scripts/setup.sh installs it)"))
}

/// A child process killed (and reaped) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU seconds (user and system) a running process has used, from `/proc/<pid>/stat`.
pub fn cpu_secs(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name in parentheses may hold spaces; the fields after it are plain.
    let rest = &stat[stat.rfind(')').context("a /proc stat line")? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?.unwrap_or(100);
    Ok(ticks as f64 / hz as f64)
}

/// A world-readable temporary folder (a program that drops root must still read it).
fn open_dir() -> anyhow::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    Ok(dir)
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
    pub fn start(port: u16, hashes: &[InfoHash]) -> anyhow::Result<OpenTracker> {
        let dir = open_dir()?;
        let list: String = hashes.iter().map(|h| format!("{h}\n")).collect();
        std::fs::write(dir.path().join("whitelist.txt"), list)?;
        let conf = dir.path().join("opentracker.conf");
        std::fs::write(
            &conf,
            format!(
                "listen.tcp 127.0.0.1:{port}\ntracker.rootdir {}\naccess.whitelist whitelist.txt\naccess.stats 127.0.0.1\n",
                dir.path().display()
            ),
        )?;
        let mut child = spawn(
            Command::new("opentracker").arg("-f").arg(&conf),
            "opentracker",
        )?;
        wait_listening(
            (Ipv4Addr::LOCALHOST, port).into(),
            "opentracker",
            &mut child,
        )?;
        Ok(OpenTracker {
            port,
            child: Running(child),
            dir,
        })
    }

    /// Its whitelist (inside its folder, where it reads it after dropping root): whoever writes it
    /// then sends [`OpenTracker::pid`] a SIGHUP.
    pub fn whitelist(&self) -> PathBuf {
        self.dir.path().join("whitelist.txt")
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Accepts announces for one more torrent (the whitelist is read again on SIGHUP).
    pub fn allow(&self, hash: &InfoHash) -> anyhow::Result<()> {
        use std::io::Write;
        let mut list = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("whitelist.txt"))?;
        writeln!(list, "{hash}")?;
        drop(list);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.0.id() as i32),
            nix::sys::signal::Signal::SIGHUP,
        )?;
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
        )?;
        Ok(())
    }

    /// What the tracker knows of one torrent (a scrape).
    pub fn scrape(&self, hash: &InfoHash) -> anyhow::Result<Scrape> {
        let escaped: String = hash.0.iter().map(|b| format!("%{b:02x}")).collect();
        let body = curl(&[&format!(
            "http://127.0.0.1:{}/scrape?info_hash={escaped}",
            self.port
        )])?;
        let field = |name: &str| -> anyhow::Result<u64> {
            let key = format!("{}:{name}i", name.len());
            let Some(at) = body.find(&key) else {
                return Ok(0);
            };
            let rest = &body[at + key.len()..];
            let end = rest.find('e').context("a bencoded integer in the scrape")?;
            Ok(rest[..end].parse()?)
        };
        Ok(Scrape {
            complete: field("complete")?,
            incomplete: field("incomplete")?,
            downloaded: field("downloaded")?,
        })
    }

    /// Waits until the tracker lists at least `peers` peers of a torrent.
    pub fn wait_for_peers(&self, hash: &InfoHash, peers: u64) -> anyhow::Result<Scrape> {
        wait_until(
            &format!("the tracker to list {peers} peers of {hash}"),
            Duration::from_secs(30),
            || self.scrape(hash),
            |s| s.complete + s.incomplete >= peers,
        )
    }
}

/// Debian's lighttpd on 127.0.0.1 serving a folder, its access log the count of what it served.
pub struct Lighttpd {
    port: u16,
    log: PathBuf,
    child: Running,
    _dir: tempfile::TempDir,
}

/// One request lighttpd served: status, body bytes, path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// The HTTP status.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// The path asked for.
    pub path: String,
}

impl Lighttpd {
    /// Serves `root` on a free port of 127.0.0.1.
    pub fn start(root: &Path) -> anyhow::Result<Lighttpd> {
        let dir = tempfile::tempdir()?;
        let port = free_port(Ipv4Addr::LOCALHOST)?;
        let log = dir.path().join("access.log");
        let conf = dir.path().join("lighttpd.conf");
        // No stat cache: tests rewrite files between requests, and lighttpd would otherwise
        // serve a file rewritten within the same second with its old length (seen: a new
        // signature cut to the old one's 659 bytes).
        std::fs::write(
            &conf,
            format!(
                "server.modules = (\"mod_accesslog\")\nserver.document-root = \"{}\"\nserver.bind = \"127.0.0.1\"\nserver.port = {port}\nserver.errorlog = \"{}\"\naccesslog.filename = \"{}\"\naccesslog.format = \"%s %b %U\"\nserver.stat-cache-engine = \"disable\"\nmimetype.assign = (\"\" => \"application/octet-stream\")\n",
                root.display(),
                dir.path().join("error.log").display(),
                log.display()
            ),
        )?;
        let mut child = spawn(
            Command::new("lighttpd").arg("-D").arg("-f").arg(&conf),
            "lighttpd",
        )?;
        wait_listening((Ipv4Addr::LOCALHOST, port).into(), "lighttpd", &mut child)?;
        Ok(Lighttpd {
            port,
            log,
            child: Running(child),
            _dir: dir,
        })
    }

    /// Its base URL (`http://127.0.0.1:PORT/`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Waits until what it has logged satisfies `cond` (lighttpd writes its access log in
    /// batches, every few seconds); returns the log then.
    pub fn wait_served(
        &self,
        what: &str,
        cond: impl Fn(&[Served]) -> bool,
    ) -> anyhow::Result<Vec<Served>> {
        wait_until(
            what,
            Duration::from_secs(30),
            || Ok(self.served()),
            |s| cond(s),
        )
    }

    /// Stops it (it writes out its log as it ends) and returns every request it served.
    pub fn stop(mut self) -> anyhow::Result<Vec<Served>> {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )?;
        self.child.0.wait()?;
        Ok(self.served())
    }

    /// Every request logged so far.
    fn served(&self) -> Vec<Served> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut f = l.splitn(3, ' ');
                Some(Served {
                    status: f.next()?.parse().ok()?,
                    // "-" when no body was sent.
                    bytes: f.next()?.parse().unwrap_or(0),
                    path: f.next()?.to_owned(),
                })
            })
            .collect()
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
    child: Running,
    _dir: tempfile::TempDir,
}

impl Transmission {
    /// Starts it with peers on `ip` (give it an address of its own: one connection per IP).
    pub fn start(ip: Ipv4Addr) -> anyhow::Result<Transmission> {
        let dir = open_dir()?;
        let downloads = dir.path().join("downloads");
        std::fs::create_dir_all(&downloads)?;
        let rpc_port = free_port(Ipv4Addr::LOCALHOST)?;
        let settings = json!({
            "bind-address-ipv4": ip.to_string(),
            "bind-address-ipv6": "::1",
            "dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
            "port-forwarding-enabled": false, "blocklist-enabled": false,
            "encryption": 0,
            "peer-port": free_port(ip)?, "peer-port-random-on-start": false,
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
        std::fs::create_dir_all(&config)?;
        std::fs::write(config.join("settings.json"), settings.to_string())?;
        let mut child = spawn(
            Command::new("transmission-daemon")
                .arg("-f")
                .arg("-g")
                .arg(&config),
            "transmission-daemon",
        )?;
        wait_listening(
            (Ipv4Addr::LOCALHOST, rpc_port).into(),
            "transmission-daemon",
            &mut child,
        )?;
        Ok(Transmission {
            rpc: format!("http://127.0.0.1:{rpc_port}/transmission/rpc"),
            session: Default::default(),
            downloads,
            child: Running(child),
            _dir: dir,
        })
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// One RPC call; the session id it asks for is fetched and kept.
    fn call(&self, method: &str, arguments: Value) -> anyhow::Result<Value> {
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
            ])?;
            let (head, reply) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
            if head.starts_with("HTTP/1.1 409") {
                let id = head
                    .lines()
                    .find_map(|l| l.strip_prefix("X-Transmission-Session-Id: "))
                    .context("transmission's 409 names no session id")?;
                *self.session.lock().unwrap() = id.trim().to_owned();
                continue;
            }
            let v: Value = serde_json::from_str(reply)
                .with_context(|| format!("transmission {method} answered {reply:?}"))?;
            ensure!(v["result"] == "success", "transmission {method}: {v}");
            return Ok(v["arguments"].clone());
        }
        bail!("transmission kept asking for a new session id")
    }

    /// Adds a torrent that downloads to (or seeds from) `dir`.
    pub fn add(&self, torrent: &Path, dir: &Path) -> anyhow::Result<()> {
        // The daemon runs here: it reads the file itself.
        self.call(
            "torrent-add",
            json!({ "filename": torrent, "download-dir": dir, "paused": false }),
        )?;
        Ok(())
    }

    /// Listens for peers on another port of its address (a peer that saw it before, and will
    /// not dial a known address again, sees a new one).
    pub fn set_peer_port(&self, port: u16) -> anyhow::Result<()> {
        self.call("session-set", json!({ "peer-port": port }))?;
        Ok(())
    }

    /// Removes a torrent, and its data with `delete`.
    pub fn remove(&self, hash: &InfoHash, delete: bool) -> anyhow::Result<()> {
        self.call(
            "torrent-remove",
            json!({ "ids": [hash.to_string()], "delete-local-data": delete }),
        )?;
        Ok(())
    }

    /// Its counters for a torrent.
    pub fn counters(&self, hash: &InfoHash) -> anyhow::Result<Counters> {
        let v = self.call(
            "torrent-get",
            json!({ "ids": [hash.to_string()],
                    "fields": ["percentDone", "downloadedEver", "uploadedEver", "error", "errorString"] }),
        )?;
        let t = &v["torrents"][0];
        ensure!(t["error"] == 0, "transmission: {}", t["errorString"]);
        Ok(Counters {
            done: t["percentDone"].as_f64().context("percentDone")?,
            downloaded: t["downloadedEver"].as_u64().context("downloadedEver")?,
            uploaded: t["uploadedEver"].as_u64().context("uploadedEver")?,
        })
    }
}

/// qbittorrent-nox 4.5 (libtorrent 2.0) on its own loopback address, driven over its Web API.
pub struct QBittorrent {
    api: String,
    /// Where torrents download to unless told otherwise.
    pub downloads: PathBuf,
    child: Running,
    _dir: tempfile::TempDir,
}

impl QBittorrent {
    /// Starts it with peers on `ip`.
    pub fn start(ip: Ipv4Addr) -> anyhow::Result<QBittorrent> {
        let dir = tempfile::tempdir()?;
        let downloads = dir.path().join("downloads");
        std::fs::create_dir_all(&downloads)?;
        let web = free_port(Ipv4Addr::LOCALHOST)?;
        let config = dir.path().join("qBittorrent/config");
        std::fs::create_dir_all(&config)?;
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
            free_port(ip)?,
            downloads.display()
        );
        std::fs::write(config.join("qBittorrent.conf"), conf)?;
        let mut child = spawn(
            Command::new("qbittorrent-nox").arg(format!("--profile={}", dir.path().display())),
            "qbittorrent-nox",
        )?;
        wait_listening(
            (Ipv4Addr::LOCALHOST, web).into(),
            "qbittorrent-nox",
            &mut child,
        )?;
        Ok(QBittorrent {
            api: format!("http://127.0.0.1:{web}/api/v2"),
            downloads,
            child: Running(child),
            _dir: dir,
        })
    }

    /// The program's process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Adds a torrent that downloads to (or seeds from, after its check) `dir`.
    pub fn add(&self, torrent: &Path, dir: &Path) -> anyhow::Result<()> {
        let said = curl(&[
            "-F",
            &format!("torrents=@{}", torrent.display()),
            "-F",
            &format!("savepath={}", dir.display()),
            &format!("{}/torrents/add", self.api),
        ])?;
        ensure!(
            said.trim() == "Ok.",
            "qBittorrent refused the torrent: {said}"
        );
        Ok(())
    }

    /// Adds a torrent that downloads only the files whose paths inside it (`a/b.rpm`, below the
    /// torrent's name) are in `wanted`, to `dir`: added stopped, the others set to "do not
    /// download", then started. Web seeds in the torrent are used (BEP 19).
    pub fn add_only(
        &self,
        torrent: &Path,
        hash: &InfoHash,
        dir: &Path,
        wanted: &std::collections::HashSet<String>,
    ) -> anyhow::Result<()> {
        let said = curl(&[
            "-F",
            &format!("torrents=@{}", torrent.display()),
            "-F",
            &format!("savepath={}", dir.display()),
            "-F",
            "paused=true",
            &format!("{}/torrents/add", self.api),
        ])?;
        ensure!(
            said.trim() == "Ok.",
            "qBittorrent refused the torrent: {said}"
        );
        // Its file list appears once the torrent is loaded; names are `<torrent name>/<path>`.
        let files = wait_until(
            "qBittorrent's file list",
            Duration::from_secs(20),
            || {
                let body = curl(&[&format!("{}/torrents/files?hash={hash}", self.api)])?;
                Ok(serde_json::from_str::<Value>(&body).unwrap_or(Value::Null))
            },
            |v| v.as_array().is_some_and(|a| !a.is_empty()),
        )?;
        let mut skip = Vec::new();
        for f in files.as_array().into_iter().flatten() {
            let name = f["name"].as_str().context("file name")?;
            let path = name.split_once('/').map_or(name, |(_, p)| p);
            if !wanted.contains(path) {
                skip.push(f["index"].as_u64().context("file index")?.to_string());
            }
        }
        if !skip.is_empty() {
            curl(&[
                "-d",
                &format!("hash={hash}&id={}&priority=0", skip.join("|")),
                &format!("{}/torrents/filePrio", self.api),
            ])?;
        }
        curl(&[
            "-d",
            &format!("hashes={hash}"),
            &format!("{}/torrents/resume", self.api),
        ])?;
        Ok(())
    }

    /// Limits its transfers to `rate` bytes/s each way, peers on loopback included.
    pub fn set_rate_limit(&self, rate: u32) -> anyhow::Result<()> {
        let prefs = serde_json::json!({
            "up_limit": rate,
            "dl_limit": rate,
            "limit_lan_peers": true,
        });
        curl(&[
            "-d",
            &format!("json={prefs}"),
            &format!("{}/app/setPreferences", self.api),
        ])?;
        Ok(())
    }

    /// Removes a torrent, and its data with `delete`.
    pub fn remove(&self, hash: &InfoHash, delete: bool) -> anyhow::Result<()> {
        curl(&[
            "-d",
            &format!("hashes={hash}&deleteFiles={delete}"),
            &format!("{}/torrents/delete", self.api),
        ])?;
        Ok(())
    }

    /// Its counters for a torrent (they lag by about 1.5 s).
    pub fn counters(&self, hash: &InfoHash) -> anyhow::Result<Counters> {
        let body = curl(&[&format!("{}/torrents/info?hashes={hash}", self.api)])?;
        let v: Value = serde_json::from_str(&body)?;
        let t = &v[0];
        ensure!(t.is_object(), "qBittorrent does not know {hash}: {body}");
        Ok(Counters {
            done: t["progress"].as_f64().context("progress")?,
            downloaded: t["downloaded"].as_u64().context("downloaded")?,
            uploaded: t["uploaded"].as_u64().context("uploaded")?,
        })
    }

    /// Payload bytes it received and threw away (redundant blocks, failed pieces).
    pub fn wasted(&self, hash: &InfoHash) -> anyhow::Result<u64> {
        let body = curl(&[&format!("{}/torrents/properties?hash={hash}", self.api)])?;
        let v: Value = serde_json::from_str(&body)?;
        v["total_wasted"].as_u64().context("total_wasted")
    }
}

/// Polls `read` until `done` holds for what it returns, for at most `limit`.
pub fn wait_until<T: std::fmt::Debug>(
    what: &str,
    limit: Duration,
    mut read: impl FnMut() -> anyhow::Result<T>,
    done: impl Fn(&T) -> bool,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        let v = read()?;
        if done(&v) {
            return Ok(v);
        }
        ensure!(Instant::now() < deadline, "waiting for {what}: still {v:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_seconds_of_a_process_grow_while_it_works() {
        let me = std::process::id();
        let before = cpu_secs(me).unwrap();
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(300) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let after = cpu_secs(me).unwrap();
        assert!(after - before >= 0.1, "{before} → {after}");
        assert!(cpu_secs(u32::MAX).is_err(), "no such process");
    }
}
