//! `swarmdate publish key|iso|respin|master|feed`.

use std::path::PathBuf;

use chrono::Utc;
use serde_json::json;
use swarmdate_core::feed::{KeyPair, RepoKind};
use swarmdate_core::fsutil;
use swarmdate_core::i18n::trf;
use swarmdate_core::publish::{
    FeedSpec, IsoPublishOptions, MasterOptions, publish_feed, publish_iso, publish_master, respin,
};
use swarmdate_core::torrent::InfoHash;

use super::context::Ctx;
use super::output::bytes;

#[derive(clap::Subcommand)]
pub enum PublishCmd {
    /// Make a signing key: DIR/secret.asc (keep it safe) and DIR/public.asc (give it to users).
    Key {
        /// Where to write the two files.
        dir: PathBuf,
        /// The key's user id.
        #[arg(long, default_value = "Swarmdate publisher")]
        user_id: String,
    },
    /// Make a torrent for an image and its feed entry (IMAGE.torrent, IMAGE.release.json).
    #[command(
        after_help = "Example:\n  swarmdate publish iso dist/os-1.01.iso --version 1.01 --tracker http://tracker.example.org/announce"
    )]
    Iso {
        /// The image.
        image: PathBuf,
        /// Its version, such as 1.01.
        #[arg(long)]
        version: String,
        /// Piece length in KiB (default: chosen from the size; 64 KiB up to 1 GiB images).
        #[arg(long, value_name = "KIB")]
        piece_kib: Option<u32>,
        /// Tracker announce URL (repeatable).
        #[arg(long)]
        tracker: Vec<String>,
        /// Web seed root (repeatable).
        #[arg(long)]
        web_seed: Vec<String>,
        /// Folder for the outputs (default: the image's folder).
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Make a new image version by appending a session to a copy of the old one (xorriso).
    #[command(
        after_help = "Example:\n  swarmdate publish respin os-1.00.iso --tree new/Packages --at /Packages os-1.01.iso"
    )]
    Respin {
        /// The previous version's image.
        old: PathBuf,
        /// The folder whose content the new version holds at --at.
        #[arg(long)]
        tree: PathBuf,
        /// The folder inside the image to update (update only /Packages on bootable images).
        #[arg(long, default_value = "/")]
        at: String,
        /// The new image.
        new: PathBuf,
    },
    /// Make a repository torrent (release master or updates snapshot) and its package index.
    #[command(
        after_help = "The torrent's name is the repository folder's own name and each --web-seed the mirror URL of\nthe folder above it, so that web seed URLs (root + name + path) resolve on the mirror.\n\nExample:\n  swarmdate publish master mirror/updates/41/x86_64 --kind updates --id updates-20261202 \\\n    --web-seed https://mirror.example.org/updates/41/ --out-dir publish"
    )]
    Master {
        /// The repository folder (the one holding Packages/<letter>/*.rpm, or repodata/: then
        /// the index comes from primary and the advisories from updateinfo).
        repo: PathBuf,
        /// Release master or updates snapshot.
        #[arg(long, value_enum)]
        kind: KindArg,
        /// Stem of the output files (default: the kind and today's date).
        #[arg(long)]
        id: Option<String>,
        /// The torrent's name (default: the repository folder's name).
        #[arg(long)]
        name: Option<String>,
        /// Piece length in KiB (default: the largest that keeps padding within 2%).
        #[arg(long, value_name = "KIB")]
        piece_kib: Option<u32>,
        /// Tracker announce URL (repeatable).
        #[arg(long)]
        tracker: Vec<String>,
        /// Mirror URL of the folder above the repository (repeatable).
        #[arg(long)]
        web_seed: Vec<String>,
        /// Info hash of an earlier snapshot (repeatable; BEP 38).
        #[arg(long)]
        similar: Vec<InfoHash>,
        /// Fingerprint of a key the packages are signed with (repeatable): clients then refuse
        /// a package signed by any other key, even one their system trusts.
        #[arg(long, value_name = "FINGERPRINT")]
        signing_key: Vec<swarmdate_core::openpgp::Fingerprint>,
        /// Read every package's header even when the folder has repodata.
        #[arg(long)]
        from_headers: bool,
        /// Folder for the outputs (the feed's folder).
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Write and sign DIR/feed.json from the image and repository entries in DIR.
    Feed {
        /// The folder with the *.release.json entries.
        dir: PathBuf,
        /// The secret signing key.
        #[arg(long)]
        key: PathBuf,
        #[arg(long, default_value = "Swarmdate")]
        distribution: String,
        #[arg(long, default_value = "1")]
        release: String,
        #[arg(long, default_value = "x86_64")]
        arch: String,
        /// Serial (default: one above the current feed's).
        #[arg(long)]
        serial: Option<u64>,
        /// Days until the feed expires.
        #[arg(long, default_value_t = 14)]
        expires_days: i64,
        /// Refresh interval in seconds.
        #[arg(long, default_value_t = 3600)]
        refresh: u64,
        /// Tracker announce URL (repeatable).
        #[arg(long)]
        tracker: Vec<String>,
        /// Web seed root (repeatable).
        #[arg(long)]
        web_seed: Vec<String>,
    },
}

/// Which repository a master torrent carries.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum KindArg {
    /// The release's frozen repository.
    Release,
    /// A snapshot of the updates repository.
    Updates,
}

pub async fn run(ctx: &Ctx, cmd: PublishCmd) -> anyhow::Result<()> {
    let out = &ctx.out;
    match cmd {
        PublishCmd::Key { dir, user_id } => {
            std::fs::create_dir_all(&dir)?;
            let key = KeyPair::generate(&user_id)?;
            fsutil::write_atomic(&dir.join("secret.asc"), key.secret_armored().as_bytes())?;
            fsutil::write_atomic(&dir.join("public.asc"), key.public_armored().as_bytes())?;
            out.say(trf(
                "Key {fp} written to {dir}",
                &[("fp", &key.fingerprint()), ("dir", &dir.display())],
            ));
            out.summary(json!({ "fingerprint": key.fingerprint(), "dir": dir }));
        }
        PublishCmd::Iso {
            image,
            version,
            piece_kib,
            tracker,
            web_seed,
            out_dir,
        } => {
            let opts = IsoPublishOptions {
                piece_length: piece_kib.map(|k| k << 10),
                trackers: tracker,
                web_seeds: web_seed,
                out_dir,
                date: None,
            };
            let (t, entry) =
                tokio::task::spawn_blocking(move || publish_iso(&image, &version, &opts)).await??;
            out.say(trf(
                "{name} {version}: info hash {hash}, {pieces} pieces of {len}",
                &[
                    ("name", &t.name),
                    ("version", &entry.version),
                    ("hash", &t.info_hash()),
                    ("pieces", &t.pieces().len()),
                    ("len", &bytes(t.piece_length as u64)),
                ],
            ));
            out.summary(&entry);
        }
        PublishCmd::Respin { old, tree, at, new } => {
            let n = new.clone();
            tokio::task::spawn_blocking(move || respin(&old, &tree, &at, &n)).await??;
            out.say(trf("Wrote {path}", &[("path", &new.display())]));
            out.summary(json!({ "image": new }));
        }
        PublishCmd::Master {
            repo,
            kind,
            id,
            name,
            piece_kib,
            tracker,
            web_seed,
            similar,
            signing_key,
            from_headers,
            out_dir,
        } => {
            let kind = match kind {
                KindArg::Release => RepoKind::Release,
                KindArg::Updates => RepoKind::Updates,
            };
            let id = id.unwrap_or_else(|| {
                let k = if kind == RepoKind::Release {
                    "release"
                } else {
                    "updates"
                };
                format!("{k}-{}", Utc::now().format("%Y%m%dT%H%M%S"))
            });
            let opts = MasterOptions {
                kind,
                id,
                name,
                piece_length: piece_kib.map(|k| k << 10),
                trackers: tracker,
                web_seeds: web_seed,
                similar,
                out_dir,
                date: None,
                signing_keys: signing_key,
                ignore_repodata: from_headers,
            };
            let r = tokio::task::spawn_blocking(move || publish_master(&repo, &opts)).await??;
            let payload = r.torrent.data_length();
            let pad = r.torrent.total_length() - payload;
            out.say(trf(
                "{name}: {n} packages, {size}, info hash {hash}, {pieces} pieces of {len}, padding {pad} ({pct}%)",
                &[
                    ("name", &r.torrent.name),
                    ("n", &r.index.packages.len()),
                    ("size", &bytes(payload)),
                    ("hash", &r.torrent.info_hash()),
                    ("pieces", &r.torrent.pieces().len()),
                    ("len", &bytes(r.torrent.piece_length as u64)),
                    ("pad", &bytes(pad)),
                    ("pct", &format!("{:.2}", 100.0 * pad as f64 / payload.max(1) as f64)),
                ],
            ));
            out.summary(json!({
                "entry": r.entry,
                "packages": r.index.packages.len(),
                "advisories": r.index.advisories.len(),
                "payload_bytes": payload,
                "padding_bytes": pad,
                "piece_length": r.torrent.piece_length,
                "padding_by_piece_length": r.padding,
            }));
        }
        PublishCmd::Feed {
            dir,
            key,
            distribution,
            release,
            arch,
            serial,
            expires_days,
            refresh,
            tracker,
            web_seed,
        } => {
            let key = KeyPair::load(&key)?;
            let spec = FeedSpec {
                distribution,
                release,
                arch,
                serial,
                expires: Utc::now() + chrono::Duration::days(expires_days),
                refresh_interval_secs: refresh,
                trackers: tracker,
                web_seeds: web_seed,
            };
            let feed = publish_feed(&dir, &spec, &key)?;
            out.say(trf(
                "Feed serial {serial} with {n} image versions and {r} repositories signed by {fp}",
                &[
                    ("serial", &feed.serial),
                    ("n", &feed.isos.len()),
                    ("r", &feed.repositories.len()),
                    ("fp", &key.fingerprint()),
                ],
            ));
            out.summary(
                json!({ "serial": feed.serial, "isos": feed.isos.len(), "repositories": feed.repositories.len(), "key": key.fingerprint() }),
            );
        }
    }
    Ok(())
}
