//! The engine's values as D-Bus types: every conversion between what the engine holds and what
//! crosses the bus is here. What arrives from the bus comes from another process, so it is
//! bounded and checked before the engine sees it; an option travels as an array of at most one
//! element and a path as its bytes (paths need not be UTF-8).

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zbus::zvariant::Type;

use crate::prefill::Prefilled;
use crate::{
    EngineError, JobId, JobKind, JobRecord, JobSnapshot, JobSpec, JobState, Notice, Payload,
    PeerSnapshot, PieceMap, PieceState, RepoSpec, SkipReason, Snapshot, SwitchSpec,
};
use swarmdate_core::config::SeedGoal;
use swarmdate_core::iso::SwitchMode;
use swarmdate_core::store::TrimReport;
use swarmdate_core::torrent::InfoHash;

/// Longest path accepted from the bus, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest text accepted from the bus in one field (a mirror's URL, a NEVRA), in bytes.
pub const MAX_TEXT_BYTES: usize = 4096;
/// Most entries accepted in a list of paths, mirrors or hashes.
pub const MAX_LIST: usize = 4096;
/// Most entries accepted in a list as long as a torrent's files or a system's packages.
pub const MAX_LONG_LIST: usize = 1_000_000;

/// A value from the bus that is not what the engine accepts; it reaches the caller as the named
/// error `Spec`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a malformed argument on the bus: {0}")]
pub struct Malformed(pub String);

impl From<Malformed> for EngineError {
    fn from(e: Malformed) -> Self {
        EngineError::Spec(e.to_string())
    }
}

fn bad(what: impl Into<String>) -> Malformed {
    Malformed(what.into())
}

/// An option as an array of at most one element.
fn some<T>(v: Option<T>) -> Vec<T> {
    v.into_iter().collect()
}

/// The array's one element, if any; more is malformed.
fn one<T>(v: Vec<T>, what: &str) -> Result<Option<T>, Malformed> {
    let n = v.len();
    let mut it = v.into_iter();
    match (it.next(), n) {
        (first, 0 | 1) => Ok(first),
        _ => Err(bad(format!(
            "{what}: {n} values where at most one is allowed"
        ))),
    }
}

fn path_bytes(p: &Path) -> Vec<u8> {
    p.as_os_str().as_bytes().to_vec()
}

/// A path from the bus: bounded, without NUL (the kernel would cut it there).
pub fn path(bytes: Vec<u8>, what: &str) -> Result<PathBuf, Malformed> {
    if bytes.len() > MAX_PATH_BYTES {
        return Err(bad(format!(
            "{what} is {} bytes long, more than {MAX_PATH_BYTES}",
            bytes.len()
        )));
    }
    if bytes.contains(&0) {
        return Err(bad(format!("{what} contains a NUL byte")));
    }
    Ok(PathBuf::from(OsStr::from_bytes(&bytes)))
}

fn text(s: String, what: &str) -> Result<String, Malformed> {
    match s.len() <= MAX_TEXT_BYTES {
        true => Ok(s),
        false => Err(bad(format!(
            "{what} is {} bytes long, more than {MAX_TEXT_BYTES}",
            s.len()
        ))),
    }
}

fn bounded<T>(v: Vec<T>, max: usize, what: &str) -> Result<Vec<T>, Malformed> {
    match v.len() <= max {
        true => Ok(v),
        false => Err(bad(format!(
            "{what} has {} entries, more than {max}",
            v.len()
        ))),
    }
}

fn info_hash(bytes: Vec<u8>) -> Result<InfoHash, Malformed> {
    let n = bytes.len();
    bytes
        .try_into()
        .map(InfoHash)
        .map_err(|_| bad(format!("an info hash of {n} bytes, not 20")))
}

/// One of the words a closed set of values crosses the bus as.
fn word<T: Copy>(w: &str, all: &[(&str, T)], what: &str) -> Result<T, Malformed> {
    all.iter()
        .find(|(n, _)| *n == w)
        .map(|(_, v)| *v)
        .ok_or_else(|| bad(format!("{what} {w:?} is none of the known ones")))
}

fn name_of<T: PartialEq>(v: &T, all: &[(&'static str, T)]) -> &'static str {
    all.iter().find(|(_, x)| x == v).map_or("", |(n, _)| *n)
}

const KINDS: &[(&str, JobKind)] = &[
    ("seed", JobKind::Seed),
    ("fetch", JobKind::Fetch),
    ("switch", JobKind::Switch),
    ("packages", JobKind::Packages),
    ("done", JobKind::Done),
];

const MODES: &[(&str, SwitchMode)] = &[
    ("reflink", SwitchMode::Reflink),
    ("copy", SwitchMode::Copy),
    ("in_place", SwitchMode::InPlace),
];

/// A switch's mode on the bus.
pub fn mode_word(m: SwitchMode) -> &'static str {
    name_of(&m, MODES)
}

/// A switch's mode from the bus.
pub fn mode(w: &str) -> Result<SwitchMode, Malformed> {
    word(w, MODES, "the switch mode")
}

/// An engine error inside a value (a failed job's kind): its kind's word and its message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct WireError {
    /// `trust`, `spec`, `not_found`, `busy`, `no_space`, `io` or `other`.
    pub kind: String,
    /// The message.
    pub message: String,
}

impl From<&EngineError> for WireError {
    fn from(e: &EngineError) -> Self {
        let kind = match e {
            EngineError::Trust(_) => "trust",
            EngineError::Spec(_) => "spec",
            EngineError::NotFound(_) => "not_found",
            EngineError::Busy(_) => "busy",
            EngineError::NoSpace(_) => "no_space",
            EngineError::Io(_) => "io",
            EngineError::Other(_) => "other",
        };
        WireError {
            kind: kind.to_owned(),
            message: e.message().to_owned(),
        }
    }
}

impl TryFrom<WireError> for EngineError {
    type Error = Malformed;
    fn try_from(w: WireError) -> Result<Self, Malformed> {
        let m = w.message;
        Ok(match w.kind.as_str() {
            "trust" => EngineError::Trust(m),
            "spec" => EngineError::Spec(m),
            "not_found" => EngineError::NotFound(m),
            "busy" => EngineError::Busy(m),
            "no_space" => EngineError::NoSpace(m),
            "io" => EngineError::Io(m),
            "other" => EngineError::Other(m),
            k => {
                return Err(bad(format!(
                    "the error kind {k:?} is none of the known ones"
                )));
            }
        })
    }
}

/// A snapshot on the bus: never a piece map (see [`crate::Engine::piece_map`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct WireSnapshot {
    /// Jobs in id order.
    pub jobs: Vec<WireJob>,
    /// Bytes/s; 0 for none (the engine never has a limit of 0).
    pub upload_limit: u32,
    /// Bytes/s; 0 for none.
    pub download_limit: u32,
    /// 0 when peers cannot reach the engine (no port is 0).
    pub listen_port: u16,
}

/// One job's progress on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct WireJob {
    /// The job's id.
    pub id: u64,
    /// What it does: `seed`, `fetch`, `switch`, `packages`, `done`.
    pub kind: String,
    /// A name for people.
    pub name: String,
    /// The torrent's info hash, 20 bytes.
    pub info_hash: Vec<u8>,
    /// Where it is: [`JobState`]'s name in snake case.
    pub state: String,
    /// A failed state's text; empty otherwise.
    pub detail: String,
    /// The kind of failure, at most one.
    pub failure: Vec<WireError>,
    /// The counters of [`JobSnapshot`], in its order: wanted, had, fetched, uploaded, received,
    /// discarded, from mirrors, packages in images, down speed, up speed.
    pub counters: (u64, u64, u64, u64, u64, u64, u64, u64, u64, u64),
    /// Why the last mirror fetch failed, at most one.
    pub mirror_error: Vec<String>,
    /// What a switch's pre-fill did, at most one.
    pub prefilled: Vec<Prefilled>,
    /// What the job tells its user: (kind, and two texts whose meaning the kind gives).
    pub notices: Vec<(String, String, String)>,
    /// Connected peers.
    pub peers: Vec<WirePeer>,
    /// The seeding goal was met.
    pub goal_met: bool,
}

/// One peer on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct WirePeer {
    /// Address and port.
    pub address: String,
    /// The client it says it is, at most one.
    pub client: Vec<String>,
    /// Bytes it sent us, we sent it, and the two speeds.
    pub counters: (u64, u64, u64, u64),
}

const STATES: &[(&str, JobState)] = &[
    ("preparing", JobState::Preparing),
    ("checking", JobState::Checking),
    ("downloading", JobState::Downloading),
    ("finalizing", JobState::Finalizing),
    ("rolling_back", JobState::RollingBack),
    ("seeding", JobState::Seeding),
    ("done", JobState::Done),
    ("paused", JobState::Paused),
];

impl From<&Snapshot> for WireSnapshot {
    fn from(s: &Snapshot) -> Self {
        WireSnapshot {
            jobs: s.jobs.iter().map(WireJob::from).collect(),
            upload_limit: s.upload_limit.unwrap_or(0),
            download_limit: s.download_limit.unwrap_or(0),
            listen_port: s.listen_port.unwrap_or(0),
        }
    }
}

impl TryFrom<WireSnapshot> for Snapshot {
    type Error = Malformed;
    fn try_from(w: WireSnapshot) -> Result<Self, Malformed> {
        let nonzero = |n: u32| (n > 0).then_some(n);
        Ok(Snapshot {
            jobs: w
                .jobs
                .into_iter()
                .map(JobSnapshot::try_from)
                .collect::<Result<_, _>>()?,
            upload_limit: nonzero(w.upload_limit),
            download_limit: nonzero(w.download_limit),
            listen_port: (w.listen_port > 0).then_some(w.listen_port),
        })
    }
}

impl From<&JobSnapshot> for WireJob {
    fn from(j: &JobSnapshot) -> Self {
        let (state, detail) = match &j.state {
            JobState::Failed(m) => ("failed", m.clone()),
            s => (name_of(s, STATES), String::new()),
        };
        WireJob {
            id: j.id.0,
            kind: name_of(&j.kind, KINDS).to_owned(),
            name: j.name.clone(),
            info_hash: j.info_hash.0.to_vec(),
            state: state.to_owned(),
            detail,
            failure: some(j.failure.as_ref().map(WireError::from)),
            counters: (
                j.bytes_wanted,
                j.bytes_had,
                j.bytes_fetched,
                j.bytes_uploaded,
                j.bytes_received,
                j.bytes_discarded,
                j.bytes_from_mirrors,
                j.packages_in_images,
                j.down_speed,
                j.up_speed,
            ),
            mirror_error: some(j.mirror_error.clone()),
            prefilled: some(j.prefilled),
            notices: j.notices.iter().map(notice_on_bus).collect(),
            peers: j
                .peers
                .iter()
                .map(|p| WirePeer {
                    address: p.address.clone(),
                    client: some(p.client.clone()),
                    counters: (p.fetched, p.uploaded, p.down_speed, p.up_speed),
                })
                .collect(),
            goal_met: j.goal_met,
        }
    }
}

impl TryFrom<WireJob> for JobSnapshot {
    type Error = Malformed;
    fn try_from(w: WireJob) -> Result<Self, Malformed> {
        let state = match w.state.as_str() {
            "failed" => JobState::Failed(w.detail),
            s => STATES
                .iter()
                .find(|(n, _)| *n == s)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| bad(format!("the job state {s:?} is none of the known ones")))?,
        };
        let (wanted, had, fetched, uploaded, received, discarded, mirrors, in_images, down, up) =
            w.counters;
        Ok(JobSnapshot {
            id: JobId(w.id),
            kind: word(&w.kind, KINDS, "the job kind")?,
            name: w.name,
            info_hash: info_hash(w.info_hash)?,
            state,
            failure: one(w.failure, "the failure")?
                .map(EngineError::try_from)
                .transpose()?,
            bytes_wanted: wanted,
            bytes_had: had,
            bytes_fetched: fetched,
            bytes_uploaded: uploaded,
            bytes_received: received,
            bytes_discarded: discarded,
            bytes_from_mirrors: mirrors,
            mirror_error: one(w.mirror_error, "the mirror error")?,
            packages_in_images: in_images,
            prefilled: one(w.prefilled, "the pre-fill")?,
            notices: bounded(w.notices, MAX_LIST, "the notices")?
                .into_iter()
                .map(notice_from_bus)
                .collect::<Result<_, _>>()?,
            down_speed: down,
            up_speed: up,
            peers: w
                .peers
                .into_iter()
                .map(|p| {
                    let (fetched, uploaded, down_speed, up_speed) = p.counters;
                    Ok(PeerSnapshot {
                        address: p.address,
                        client: one(p.client, "the peer's client")?,
                        fetched,
                        uploaded,
                        down_speed,
                        up_speed,
                    })
                })
                .collect::<Result<_, Malformed>>()?,
            goal_met: w.goal_met,
        })
    }
}

/// A notice on the bus: its kind, and the tracker and reason of a refusal or the reason of a
/// skipped pre-fill.
fn notice_on_bus(n: &Notice) -> (String, String, String) {
    let (kind, a, b) = match n {
        Notice::TrackerRefused { tracker, reason } => {
            ("tracker_refused", tracker.as_str(), reason.as_str())
        }
        Notice::PrefillSkipped { reason } => ("prefill_skipped", reason.name(), ""),
        Notice::MirrorUsed => ("mirror_used", "", ""),
    };
    (kind.to_owned(), a.to_owned(), b.to_owned())
}

/// A notice from the bus: a known kind, its texts bounded and free of control characters (a
/// tracker's words reach a terminal and the window as they are).
fn notice_from_bus((kind, a, b): (String, String, String)) -> Result<Notice, Malformed> {
    let shown = |s: String, what: &str| {
        let s = text(s, what)?;
        match s.chars().any(char::is_control) {
            true => Err(bad(format!("{what} holds control characters"))),
            false => Ok(s),
        }
    };
    match kind.as_str() {
        "tracker_refused" => Ok(Notice::TrackerRefused {
            tracker: shown(a, "the tracker")?,
            reason: shown(b, "the tracker's reason")?,
        }),
        "prefill_skipped" => SkipReason::from_name(&a)
            .map(|reason| Notice::PrefillSkipped { reason })
            .ok_or_else(|| {
                bad(format!(
                    "the pre-fill skip reason {a:?} is none of the known ones"
                ))
            }),
        "mirror_used" => Ok(Notice::MirrorUsed),
        k => Err(bad(format!("the notice {k:?} is none of the known ones"))),
    }
}

/// A piece map on the bus: one byte per piece, the state's number.
pub fn piece_bytes(map: &PieceMap) -> Vec<u8> {
    map.0.iter().map(|s| *s as u8).collect()
}

/// A piece map from the bus.
pub fn piece_map(bytes: Vec<u8>) -> Result<PieceMap, Malformed> {
    bytes
        .into_iter()
        .map(|b| match b {
            0 => Ok(PieceState::Missing),
            1 => Ok(PieceState::HadBefore),
            2 => Ok(PieceState::Fetched),
            3 => Ok(PieceState::InFlight),
            n => Err(bad(format!("the piece state {n} is none of 0-3"))),
        })
        .collect::<Result<_, _>>()
        .map(PieceMap)
}

/// A payload on the bus: whether it is a folder, and its path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct WirePayload {
    /// A folder (else a single file, an image).
    pub folder: bool,
    /// Its path's bytes.
    pub path: Vec<u8>,
}

/// [`JobSpec::Fetch`] on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct WireFetch {
    /// The destination folder's bytes.
    pub dest: Vec<u8>,
    /// Seed once complete.
    pub seed_after: bool,
    /// Reuse and replace an older version there.
    pub replace: bool,
}

/// [`SwitchSpec`] on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct WireSwitch {
    /// The image replaced, where the new version goes, and its working file (path bytes).
    pub paths: (Vec<u8>, Vec<u8>, Vec<u8>),
    /// `reflink`, `copy` or `in_place`.
    pub mode: String,
    /// copied, moved, aborting, remove_from.
    pub flags: (bool, bool, bool, bool),
    /// Info hashes (20 bytes each) that seeded the old image.
    pub reseed: Vec<Vec<u8>>,
    /// What the pre-fill did, at most one.
    pub prefilled: Vec<Prefilled>,
}

/// [`RepoSpec`] on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct WireRepo {
    /// The package index's path bytes.
    pub index: Vec<u8>,
    /// Wanted files by index in the torrent.
    pub wanted: Vec<u64>,
    /// Mirror roots.
    pub mirrors: Vec<String>,
    /// Images seeded from (path bytes).
    pub images: Vec<Vec<u8>>,
}

/// A [`JobSpec`] on the bus: exactly one of its arrays holds one element, the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct WireSpec {
    /// [`JobSpec::Seed`].
    pub seed: Vec<WirePayload>,
    /// [`JobSpec::SuperSeed`].
    pub super_seed: Vec<WirePayload>,
    /// [`JobSpec::Fetch`].
    pub fetch: Vec<WireFetch>,
    /// [`JobSpec::Switch`].
    pub switch: Vec<WireSwitch>,
    /// [`JobSpec::Repository`].
    pub repository: Vec<WireRepo>,
}

fn payload_to(p: &Payload) -> WirePayload {
    match p {
        Payload::Image(p) => WirePayload {
            folder: false,
            path: path_bytes(p),
        },
        Payload::Folder(p) => WirePayload {
            folder: true,
            path: path_bytes(p),
        },
    }
}

fn payload_from(w: WirePayload) -> Result<Payload, Malformed> {
    let p = path(w.path, "the payload's path")?;
    Ok(match w.folder {
        true => Payload::Folder(p),
        false => Payload::Image(p),
    })
}

impl From<&JobSpec> for WireSpec {
    fn from(s: &JobSpec) -> Self {
        let mut w = WireSpec {
            seed: Vec::new(),
            super_seed: Vec::new(),
            fetch: Vec::new(),
            switch: Vec::new(),
            repository: Vec::new(),
        };
        match s {
            JobSpec::Seed { payload } => w.seed.push(payload_to(payload)),
            JobSpec::SuperSeed { payload } => w.super_seed.push(payload_to(payload)),
            JobSpec::Fetch {
                dest,
                seed_after,
                replace,
            } => w.fetch.push(WireFetch {
                dest: path_bytes(dest),
                seed_after: *seed_after,
                replace: *replace,
            }),
            JobSpec::Switch(s) => w.switch.push(WireSwitch {
                paths: (
                    path_bytes(&s.from),
                    path_bytes(&s.target),
                    path_bytes(&s.working),
                ),
                mode: mode_word(s.mode).to_owned(),
                flags: (s.copied, s.moved, s.aborting, s.remove_from),
                reseed: s.reseed.iter().map(|h| h.0.to_vec()).collect(),
                prefilled: some(s.prefilled),
            }),
            JobSpec::Repository(r) => w.repository.push(WireRepo {
                index: path_bytes(&r.index),
                wanted: r.wanted.iter().map(|&i| i as u64).collect(),
                mirrors: r.mirrors.clone(),
                images: r.images.iter().map(|p| path_bytes(p)).collect(),
            }),
        }
        w
    }
}

impl TryFrom<WireSpec> for JobSpec {
    type Error = Malformed;
    fn try_from(w: WireSpec) -> Result<Self, Malformed> {
        let n =
            w.seed.len() + w.super_seed.len() + w.fetch.len() + w.switch.len() + w.repository.len();
        if n != 1 {
            return Err(bad(format!(
                "a job spec with {n} variants where exactly one is needed"
            )));
        }
        if let Some(p) = w.seed.into_iter().next() {
            return Ok(JobSpec::Seed {
                payload: payload_from(p)?,
            });
        }
        if let Some(p) = w.super_seed.into_iter().next() {
            return Ok(JobSpec::SuperSeed {
                payload: payload_from(p)?,
            });
        }
        if let Some(f) = w.fetch.into_iter().next() {
            return Ok(JobSpec::Fetch {
                dest: path(f.dest, "the destination")?,
                seed_after: f.seed_after,
                replace: f.replace,
            });
        }
        if let Some(s) = w.switch.into_iter().next() {
            let (from, target, working) = s.paths;
            let (copied, moved, aborting, remove_from) = s.flags;
            return Ok(JobSpec::Switch(SwitchSpec {
                from: path(from, "the switched image")?,
                target: path(target, "the switch's target")?,
                working: path(working, "the switch's working file")?,
                mode: mode(&s.mode)?,
                copied,
                moved,
                aborting,
                reseed: bounded(s.reseed, MAX_LIST, "the reseeded torrents")?
                    .into_iter()
                    .map(info_hash)
                    .collect::<Result<_, _>>()?,
                remove_from,
                prefilled: one(s.prefilled, "the pre-fill")?,
            }));
        }
        let r = w.repository.into_iter().next().expect("counted one");
        Ok(JobSpec::Repository(RepoSpec {
            index: path(r.index, "the package index")?,
            wanted: bounded(r.wanted, MAX_LONG_LIST, "the wanted files")?
                .into_iter()
                .map(|i| usize::try_from(i).map_err(|_| bad(format!("file index {i}"))))
                .collect::<Result<BTreeSet<_>, _>>()?,
            mirrors: bounded(r.mirrors, MAX_LIST, "the mirrors")?
                .into_iter()
                .map(|m| text(m, "a mirror"))
                .collect::<Result<_, _>>()?,
            images: bounded(r.images, MAX_LIST, "the images")?
                .into_iter()
                .map(|p| path(p, "an image"))
                .collect::<Result<_, _>>()?,
        }))
    }
}

/// A journal's job on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct WireRecord {
    /// The job's id.
    pub id: u64,
    /// The torrent's info hash, 20 bytes.
    pub info_hash: Vec<u8>,
    /// A name for people.
    pub name: String,
    /// What it does.
    pub spec: WireSpec,
    /// Paused by the user.
    pub paused: bool,
    /// When it was first complete and sharing (seconds since the epoch), at most one.
    pub seeding_since: Vec<i64>,
    /// The seeding goal paused it.
    pub goal_met: bool,
}

impl From<&JobRecord> for WireRecord {
    fn from(r: &JobRecord) -> Self {
        WireRecord {
            id: r.id.0,
            info_hash: r.info_hash.0.to_vec(),
            name: r.name.clone(),
            spec: WireSpec::from(&r.spec),
            paused: r.paused,
            seeding_since: some(r.seeding_since),
            goal_met: r.goal_met,
        }
    }
}

impl TryFrom<WireRecord> for JobRecord {
    type Error = Malformed;
    fn try_from(w: WireRecord) -> Result<Self, Malformed> {
        Ok(JobRecord {
            id: JobId(w.id),
            info_hash: info_hash(w.info_hash)?,
            name: w.name,
            spec: JobSpec::try_from(w.spec)?,
            paused: w.paused,
            seeding_since: one(w.seeding_since, "seeding since")?,
            goal_met: w.goal_met,
        })
    }
}

/// A seeding goal on the bus: `forever`, `ratio` (with `ratio`) or `hours` (with `hours`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct WireGoal {
    /// Which goal.
    pub kind: String,
    /// A ratio goal's ratio (else 0).
    pub ratio: f64,
    /// An hours goal's hours (else 0).
    pub hours: u32,
}

impl From<SeedGoal> for WireGoal {
    fn from(g: SeedGoal) -> Self {
        let (kind, ratio, hours) = match g {
            SeedGoal::Forever => ("forever", 0.0, 0),
            SeedGoal::Ratio(r) => ("ratio", r, 0),
            SeedGoal::Hours(h) => ("hours", 0.0, h),
        };
        WireGoal {
            kind: kind.to_owned(),
            ratio,
            hours,
        }
    }
}

impl TryFrom<WireGoal> for SeedGoal {
    type Error = Malformed;
    fn try_from(w: WireGoal) -> Result<Self, Malformed> {
        match w.kind.as_str() {
            "forever" => Ok(SeedGoal::Forever),
            "ratio" if w.ratio.is_finite() && w.ratio >= 0.0 => Ok(SeedGoal::Ratio(w.ratio)),
            "ratio" => Err(bad(format!("a seeding ratio of {}", w.ratio))),
            "hours" => Ok(SeedGoal::Hours(w.hours)),
            k => Err(bad(format!(
                "the seeding goal {k:?} is none of the known ones"
            ))),
        }
    }
}

/// A store trim's report on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct WireTrim {
    /// The cap, the bytes before and after, in bytes.
    pub sizes: (u64, u64, u64),
    /// The builds removed, oldest first.
    pub evicted: Vec<String>,
}

impl From<TrimReport> for WireTrim {
    fn from(r: TrimReport) -> Self {
        WireTrim {
            sizes: (r.cap, r.before, r.after),
            evicted: r.evicted,
        }
    }
}

impl From<WireTrim> for TrimReport {
    fn from(w: WireTrim) -> Self {
        let (cap, before, after) = w.sizes;
        TrimReport {
            cap,
            before,
            after,
            evicted: w.evicted,
        }
    }
}

/// Installed NEVRAs from the bus: bounded, each parsed.
pub fn nevras(
    v: Vec<String>,
) -> Result<std::collections::HashSet<swarmdate_core::packages::Nevra>, Malformed> {
    bounded(v, MAX_LONG_LIST, "the installed packages")?
        .into_iter()
        .map(|n| {
            let n = text(n, "a package")?;
            n.parse()
                .map_err(|e| bad(format!("the package {n:?}: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_comes_back_as_itself() {
        let p = |s: &str| PathBuf::from(OsStr::from_bytes(s.as_bytes()));
        let specs = [
            JobSpec::Seed {
                payload: Payload::Image(p("/i/a.iso")),
            },
            JobSpec::SuperSeed {
                payload: Payload::Folder(p("/i")),
            },
            JobSpec::Fetch {
                dest: PathBuf::from(OsStr::from_bytes(b"/d/\xff")),
                seed_after: true,
                replace: true,
            },
            JobSpec::Switch(SwitchSpec {
                from: p("/a"),
                target: p("/b"),
                working: p("/c"),
                mode: SwitchMode::InPlace,
                copied: true,
                moved: false,
                aborting: true,
                reseed: vec![InfoHash([7; 20])],
                remove_from: true,
                prefilled: Some(Prefilled {
                    millis: 5,
                    ..Default::default()
                }),
            }),
            JobSpec::Repository(RepoSpec {
                index: p("/x"),
                wanted: [1, 5].into(),
                mirrors: vec!["https://m/".into()],
                images: vec![p("/i/a.iso")],
            }),
        ];
        for s in specs {
            assert_eq!(JobSpec::try_from(WireSpec::from(&s)), Ok(s));
        }
    }

    #[test]
    fn a_spec_of_no_or_two_variants_is_malformed() {
        let fetch = WireFetch {
            dest: b"/d".to_vec(),
            seed_after: false,
            replace: false,
        };
        let mut w = WireSpec::from(&JobSpec::Fetch {
            dest: "/d".into(),
            seed_after: false,
            replace: false,
        });
        w.fetch.push(fetch);
        assert!(JobSpec::try_from(w.clone()).is_err());
        w.fetch.clear();
        assert!(JobSpec::try_from(w).is_err());
    }

    #[test]
    fn a_long_or_nul_path_is_malformed() {
        assert!(path(vec![b'a'; MAX_PATH_BYTES], "p").is_ok());
        assert!(path(vec![b'a'; MAX_PATH_BYTES + 1], "p").is_err());
        assert!(path(b"/a\0b".to_vec(), "p").is_err());
    }

    /// D-Bus caps a signature at 255 characters: the largest values stay well within it.
    #[test]
    fn the_signatures_fit_the_bus() {
        for sig in [
            WireSnapshot::SIGNATURE.to_string(),
            WireRecord::SIGNATURE.to_string(),
        ] {
            println!("{sig}");
            assert!(sig.len() < 200, "{sig}");
        }
    }

    #[test]
    fn notices_come_back_as_themselves_and_a_control_character_is_malformed() {
        let notices = [
            Notice::TrackerRefused {
                tracker: "http://127.0.0.1:6969".into(),
                reason: "not authorized".into(),
            },
            Notice::PrefillSkipped {
                reason: SkipReason::NoPeer,
            },
            Notice::MirrorUsed,
        ];
        for n in notices {
            assert_eq!(notice_from_bus(notice_on_bus(&n)), Ok(n));
        }
        let raw = |k: &str, a: &str, b: &str| (k.to_owned(), a.to_owned(), b.to_owned());
        // Escaped, as the engine shows it, it passes; the raw control does not.
        assert!(notice_from_bus(raw("tracker_refused", "t", "a\\u{1b}[2Jb")).is_ok());
        assert!(notice_from_bus(raw("tracker_refused", "t", "a\x1b[2Jb")).is_err());
        assert!(notice_from_bus(raw("tracker_refused", "t\n", "b")).is_err());
        assert!(
            notice_from_bus(raw("tracker_refused", "t", &"x".repeat(MAX_TEXT_BYTES + 1))).is_err()
        );
        assert!(notice_from_bus(raw("prefill_skipped", "sometimes", "")).is_err());
        assert!(notice_from_bus(raw("weather", "", "")).is_err());
    }

    #[test]
    fn goals_and_errors_come_back_as_themselves() {
        for g in [SeedGoal::Forever, SeedGoal::Ratio(1.5), SeedGoal::Hours(3)] {
            assert_eq!(SeedGoal::try_from(WireGoal::from(g)), Ok(g));
        }
        let nan = WireGoal::from(SeedGoal::Ratio(f64::NAN));
        assert!(SeedGoal::try_from(nan).is_err());
        let e = EngineError::NoSpace("full".into());
        assert_eq!(EngineError::try_from(WireError::from(&e)), Ok(e));
    }
}
