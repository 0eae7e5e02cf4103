//! Plain values the engine publishes a few times a second for the window and the command line.

use serde::{Deserialize, Serialize};

use super::job::JobId;
use swarmdate_core::torrent::InfoHash;

/// Everything a face needs to draw the engine's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// Jobs in id order.
    pub jobs: Vec<JobSnapshot>,
    /// The session-wide upload limit in bytes/s.
    pub upload_limit: Option<u32>,
    /// The session-wide download limit in bytes/s.
    pub download_limit: Option<u32>,
    /// The port peers reach us on.
    pub listen_port: Option<u16>,
}

impl Snapshot {
    /// The job with this id, if the engine has it.
    pub fn job(&self, id: JobId) -> Option<&JobSnapshot> {
        self.jobs.iter().find(|j| j.id == id)
    }
}

/// Where a job is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "detail", rename_all = "snake_case")]
pub enum JobState {
    /// Preparing local data (copying the old image).
    Preparing,
    /// Checking which pieces are already right.
    Checking,
    /// Fetching pieces.
    Downloading,
    /// Making the result durable and putting it in place.
    Finalizing,
    /// Putting the old version back (an aborted or failed in-place switch).
    RollingBack,
    /// Complete and serving peers.
    Seeding,
    /// Complete; not seeding.
    Done,
    /// Paused by the user.
    Paused,
    /// Stopped by an error.
    Failed(String),
}

impl JobState {
    /// Whether the job's payload is complete (seeding or done).
    pub fn is_complete(&self) -> bool {
        matches!(self, JobState::Seeding | JobState::Done)
    }
}

/// What a job does, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Seeds a complete payload.
    Seed,
    /// Downloads a payload.
    Fetch,
    /// Switches an image to another version.
    Switch,
    /// Fetches packages into the store and seeds those it holds.
    Packages,
    /// Finished and out of the journal.
    Done,
}

/// One job's progress. It carries no piece map, in-process or over the bus: whoever draws one
/// asks for it ([`crate::Engine::piece_map`]), so a snapshot stays small at 4 per second.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobSnapshot {
    /// The job.
    pub id: JobId,
    /// What the job does.
    pub kind: JobKind,
    /// A name for people.
    pub name: String,
    /// The torrent.
    pub info_hash: InfoHash,
    /// Where it is.
    pub state: JobState,
    /// What kind of failure stopped it, when its state is failed (the text is the state's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<super::EngineError>,
    /// Payload bytes the job must end up with (pad bytes excluded).
    pub bytes_wanted: u64,
    /// Payload bytes that were already right locally before any transfer.
    pub bytes_had: u64,
    /// Payload bytes in pieces fetched from peers during the job.
    pub bytes_fetched: u64,
    /// Bytes uploaded to peers since the torrent started.
    pub bytes_uploaded: u64,
    /// Bytes received from peers on the wire (wasted and pad bytes included).
    pub bytes_received: u64,
    /// Bytes written to disk and then thrown away because their piece failed its hash check.
    pub bytes_discarded: u64,
    /// Payload bytes that came from mirrors (repository jobs, when peers did not deliver).
    #[serde(default)]
    pub bytes_from_mirrors: u64,
    /// Why a repository job's last mirror fetch failed, while it retries (with a growing wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_error: Option<String>,
    /// Packages a repository job seeds straight from inside images (the store lacks them).
    #[serde(default)]
    pub packages_in_images: u64,
    /// What a switch's pre-fill from local files did before its check (once it ran).
    // The name `--json` readers have.
    #[serde(default, rename = "rebuilt")]
    pub prefilled: Option<super::prefill::Prefilled>,
    /// What the job tells its user once each: a tracker's refusal, a step that fell back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<super::notice::Notice>,
    /// Download speed in bytes/s.
    pub down_speed: u64,
    /// Upload speed in bytes/s.
    pub up_speed: u64,
    /// Connected peers.
    pub peers: Vec<PeerSnapshot>,
    /// The seeding goal was met (and paused the job unless the user resumed it).
    #[serde(default)]
    pub goal_met: bool,
}

/// One connected peer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerSnapshot {
    /// Address and port.
    pub address: String,
    /// The client it says it is.
    pub client: Option<String>,
    /// Bytes it sent us.
    pub fetched: u64,
    /// Bytes we sent it.
    pub uploaded: u64,
    /// Bytes/s it sends us, over the last snapshot interval.
    pub down_speed: u64,
    /// Bytes/s we send it, over the last snapshot interval.
    pub up_speed: u64,
}

/// The state of one piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PieceState {
    /// Not here yet.
    Missing = 0,
    /// Already right locally before the job.
    HadBefore = 1,
    /// Fetched from peers during the job.
    Fetched = 2,
    /// Being fetched now: some of its blocks arrived, it is not complete yet.
    InFlight = 3,
}

/// Piece states, one byte each (a 400,000-piece map is 400 KB); serialized as a string of one digit
/// per piece (the state's number).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PieceMap(pub Vec<PieceState>);

impl Serialize for PieceMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let digits: String = self.0.iter().map(|p| (b'0' + *p as u8) as char).collect();
        s.serialize_str(&digits)
    }
}

impl<'de> Deserialize<'de> for PieceMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let digits = String::deserialize(d)?;
        digits
            .bytes()
            .map(|b| match b {
                b'0' => Ok(PieceState::Missing),
                b'1' => Ok(PieceState::HadBefore),
                b'2' => Ok(PieceState::Fetched),
                b'3' => Ok(PieceState::InFlight),
                _ => Err(serde::de::Error::custom("a piece state is a digit 0-3")),
            })
            .collect::<Result<_, _>>()
            .map(PieceMap)
    }
}

impl PieceMap {
    /// How many pieces are in `state`.
    pub fn count(&self, state: PieceState) -> usize {
        self.0.iter().filter(|s| **s == state).count()
    }
}

impl JobSnapshot {
    /// The error a failed job stopped with: its typed failure, or its words as another error.
    pub fn failure_error(&self) -> super::EngineError {
        match (&self.failure, &self.state) {
            (Some(f), _) => f.clone(),
            (None, JobState::Failed(m)) => super::EngineError::Other(m.clone()),
            (None, s) => super::EngineError::Other(format!("the job is {s:?}, not failed")),
        }
    }
}
