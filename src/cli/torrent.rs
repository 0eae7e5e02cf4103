//! `swarmdate torrent show`.

use serde_json::json;
use swarmdate_core::feed::Location;
use swarmdate_core::i18n::trf;

use super::context::Ctx;
use super::output::bytes;

#[derive(clap::Subcommand)]
pub enum TorrentCmd {
    /// Name, info hash, files, pieces, trackers and web seeds; refuses unsafe torrents.
    #[command(
        after_help = "Example:\n  swarmdate torrent show bittorrent://https://example.org/x.torrent"
    )]
    Show {
        /// A path, an http(s)/file URL, or bittorrent://<url>.
        source: String,
    },
}

pub async fn run(ctx: &Ctx, cmd: TorrentCmd) -> anyhow::Result<()> {
    let TorrentCmd::Show { source } = cmd;
    let t = ctx
        .torrent_at(&Location::parse_torrent_ref(&source)?)
        .await?;
    let files: Vec<_> = t
        .files
        .iter()
        .map(|f| json!({ "path": f.display_path(), "length": f.length, "offset": f.offset, "pad": f.pad }))
        .collect();
    ctx.out.summary(json!({
        "name": t.name, "info_hash": t.info_hash(), "piece_length": t.piece_length,
        "pieces": t.pieces().len(), "total_length": t.total_length(), "data_length": t.data_length(),
        "files": files, "trackers": t.trackers, "web_seeds": t.web_seeds, "similar": t.similar,
        "comment": t.comment, "creation_date": t.creation_date, "created_by": t.created_by,
    }));
    let out = &ctx.out;
    out.say(trf("Name:       {name}", &[("name", &t.name)]));
    out.say(trf("Info hash:  {hash}", &[("hash", &t.info_hash())]));
    out.say(trf(
        "Size:       {size} ({n} bytes of data)",
        &[("size", &bytes(t.data_length())), ("n", &t.data_length())],
    ));
    out.say(trf(
        "Pieces:     {count} of {len}",
        &[
            ("count", &t.pieces().len()),
            ("len", &bytes(t.piece_length as u64)),
        ],
    ));
    for tier in &t.trackers {
        out.say(trf("Tracker:    {url}", &[("url", &tier.join(", "))]));
    }
    for w in &t.web_seeds {
        out.say(trf("Web seed:   {url}", &[("url", w)]));
    }
    for s in &t.similar {
        out.say(trf("Similar:    {hash}", &[("hash", s)]));
    }
    if let Some(c) = &t.comment {
        out.say(trf("Comment:    {c}", &[("c", c)]));
    }
    let data_files: Vec<_> = t.files.iter().filter(|f| !f.pad).collect();
    out.say(trf("Files:      {n}", &[("n", &data_files.len())]));
    for f in data_files {
        out.say(format!("  {:>12}  {}", f.length, f.display_path()));
    }
    Ok(())
}
