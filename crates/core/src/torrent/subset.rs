//! Subset torrents: a standalone torrent of some files of an aligned master torrent, with the
//! same name, paths and piece length and the master's own piece hashes (each file starts on a
//! piece boundary and its last piece is padded with zeros in both), `similar` naming the master.
//! Any client can seed it; a client that knows both layouts maps it onto the same store.

use std::collections::{BTreeMap, BTreeSet};

use super::Torrent;
use super::builder::{BuildError, TorrentBuilder};

/// A subset of a master torrent.
#[derive(Debug, Clone)]
pub struct Subset {
    /// The standalone torrent.
    pub torrent: Torrent,
    /// Where each chosen file of the master is in the subset: master file index → subset index.
    pub files: BTreeMap<usize, usize>,
}

/// Why a subset cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SubsetError {
    /// Nothing was chosen.
    #[error("a subset needs at least one file")]
    Empty,
    /// A chosen index is not a payload file of the master.
    #[error("file {0} is not a payload file of the master torrent")]
    NotAFile(usize),
    /// The master does not start or pad this file on piece boundaries.
    #[error(
        "{0} does not sit on piece boundaries in the master torrent, so its pieces cannot be shared"
    )]
    NotAligned(String),
    /// The torrent could not be written.
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// The subset of `master` holding the files at `chosen` (indexes in the master's file list).
pub fn subset(master: &Torrent, chosen: &BTreeSet<usize>) -> Result<Subset, SubsetError> {
    if chosen.is_empty() {
        return Err(SubsetError::Empty);
    }
    let pl = u64::from(master.piece_length);
    let total = master.total_length();
    let mut layout: Vec<(Vec<String>, u64, bool)> = Vec::new();
    let mut pieces: Vec<u8> = Vec::new();
    let mut files = BTreeMap::new();
    for &i in chosen {
        let f = master
            .files
            .get(i)
            .filter(|f| !f.pad)
            .ok_or(SubsetError::NotAFile(i))?;
        let end = f.offset + f.length;
        let last_piece_end = end.div_ceil(pl) * pl;
        // Its last piece holds nothing but it and zeros: it ends the payload or a pad fills it.
        let padded = end.is_multiple_of(pl)
            || end == total
            || master
                .files
                .get(i + 1)
                .is_some_and(|p| p.pad && p.offset + p.length == last_piece_end);
        if !f.offset.is_multiple_of(pl) || !padded {
            return Err(SubsetError::NotAligned(f.display_path()));
        }
        files.insert(i, layout.len());
        layout.push((f.path.clone(), f.length, false));
        let rem = f.length % pl;
        if rem != 0 && end != total {
            let pad = pl - rem;
            layout.push((vec![".pad".into(), pad.to_string()], pad, true));
        }
        let (first, past) = ((f.offset / pl) as usize, end.div_ceil(pl) as usize);
        pieces.extend(master.pieces()[first..past].iter().flat_map(|h| h.0));
    }
    let mut builder =
        TorrentBuilder::multi_file(&master.name, Vec::new()).similar(master.info_hash());
    for url in master.trackers.iter().flatten() {
        builder = builder.tracker(url);
    }
    for root in &master.web_seeds {
        builder = builder.web_seed(root);
    }
    let torrent = builder.assemble(&layout, master.piece_length, &pieces)?;
    Ok(Subset { torrent, files })
}

/// Whether `candidate` is a subset of `master`: it names the master as similar, and each of its
/// payload files is a master file of the same path and length whose pieces have the same hashes.
/// Returns the mapping subset file index → master file index.
pub fn match_subset(candidate: &Torrent, master: &Torrent) -> Option<BTreeMap<usize, usize>> {
    if !candidate.similar.contains(&master.info_hash())
        || candidate.name != master.name
        || candidate.piece_length != master.piece_length
    {
        return None;
    }
    let pl = u64::from(master.piece_length);
    let by_path = master.file_indexes_by_path();
    let mut out = BTreeMap::new();
    for (k, f) in candidate.files.iter().enumerate().filter(|(_, f)| !f.pad) {
        let &i = by_path.get(f.path.as_slice())?;
        let m = &master.files[i];
        if m.length != f.length || !f.offset.is_multiple_of(pl) || !m.offset.is_multiple_of(pl) {
            return None;
        }
        let n = f.length.div_ceil(pl) as usize;
        let (a, b) = ((f.offset / pl) as usize, (m.offset / pl) as usize);
        if candidate.pieces().get(a..a + n)? != master.pieces().get(b..b + n)? {
            return None;
        }
        out.insert(k, i);
    }
    (!out.is_empty()).then_some(out)
}

/// The master a subset names, among `masters`.
pub fn master_of<'a>(candidate: &Torrent, masters: &'a [Torrent]) -> Option<&'a Torrent> {
    masters
        .iter()
        .find(|m| candidate.similar.contains(&m.info_hash()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::torrent::{PieceHasher, Segment, SourceFile};

    /// An aligned master of four files of awkward sizes, 16 KiB pieces.
    fn master(dir: &std::path::Path) -> Torrent {
        let mut files = Vec::new();
        for (i, len) in [40_000usize, 16_384, 5, 70_001].iter().enumerate() {
            let path = dir.join(format!("f{i}"));
            let bytes: Vec<u8> = (0..*len).map(|b| (b * 7 + i) as u8).collect();
            std::fs::write(&path, bytes).unwrap();
            files.push(SourceFile {
                path: vec!["Packages".into(), format!("f{i}")],
                source: path,
            });
        }
        TorrentBuilder::multi_file("repo", files)
            .piece_length(16 << 10)
            .align(true)
            .tracker("http://127.0.0.1:1/announce")
            .build()
            .unwrap()
    }

    /// Hashes a subset's payload from the files themselves (pads as zeros).
    fn hash_payload(t: &Torrent, dir: &std::path::Path) -> Vec<u8> {
        let segments = t
            .files
            .iter()
            .map(|f| match f.pad {
                true => Segment::Zeros(f.length),
                false => Segment::File {
                    path: dir.join(f.path.last().unwrap()),
                    len: f.length,
                },
            })
            .collect();
        let hasher = PieceHasher::new(segments, t.piece_length).unwrap();
        hasher
            .hash_all()
            .unwrap()
            .iter()
            .flat_map(|h| h.0)
            .collect()
    }

    #[test]
    fn a_subset_has_the_masters_pieces_and_its_payload_hashes_to_them() {
        let dir = tempfile::tempdir().unwrap();
        let m = master(dir.path());
        let payload: Vec<usize> = (0..m.files.len()).filter(|&i| !m.files[i].pad).collect();
        for chosen in [
            vec![payload[0], payload[2]],
            vec![payload[1]],
            vec![payload[3]],
            payload.clone(),
        ] {
            let chosen: BTreeSet<usize> = chosen.into_iter().collect();
            let s = subset(&m, &chosen).unwrap();
            let names: Vec<_> = s
                .torrent
                .files
                .iter()
                .filter(|f| !f.pad)
                .map(|f| f.path.clone())
                .collect();
            let want: Vec<_> = chosen.iter().map(|&i| m.files[i].path.clone()).collect();
            assert_eq!(names, want);
            assert_eq!(s.torrent.similar, vec![m.info_hash()]);
            assert_eq!(s.torrent.trackers, m.trackers);
            let pieces: Vec<u8> = s.torrent.pieces().iter().flat_map(|h| h.0).collect();
            assert_eq!(pieces, hash_payload(&s.torrent, dir.path()), "{chosen:?}");
            let back = match_subset(&s.torrent, &m).expect("recognised as the master's subset");
            for (k, i) in back {
                assert_eq!(s.files[&i], k);
            }
        }
        // The whole master as a subset has the master's pieces exactly.
        let all = subset(&m, &payload.iter().copied().collect()).unwrap();
        assert_eq!(all.torrent.pieces(), m.pieces());
    }

    #[test]
    fn pads_unaligned_files_and_strangers_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let m = master(dir.path());
        let pad = m.files.iter().position(|f| f.pad).unwrap();
        assert!(matches!(
            subset(&m, &[pad].into()),
            Err(SubsetError::NotAFile(_))
        ));
        assert!(matches!(
            subset(&m, &BTreeSet::new()),
            Err(SubsetError::Empty)
        ));
        let unaligned = TorrentBuilder::multi_file(
            "repo",
            (0..2)
                .map(|i| SourceFile {
                    path: vec![format!("f{i}")],
                    source: dir.path().join(format!("f{i}")),
                })
                .collect(),
        )
        .piece_length(16 << 10)
        .build()
        .unwrap();
        assert!(matches!(
            subset(&unaligned, &[1].into()),
            Err(SubsetError::NotAligned(_))
        ));
        // A torrent that does not name the master, or whose pieces differ, is no subset of it.
        let s = subset(&m, &[0].into()).unwrap();
        assert!(match_subset(&s.torrent, &unaligned).is_none());
        assert!(match_subset(&unaligned, &m).is_none());
    }
}
