//! Where an image keeps each file: the byte ranges (extents) of every regular file and of every
//! directory, read from the ISO 9660 records (`hadris-iso`). A switch uses two layouts, the local
//! image's and the target's, to put files that are already at hand where the target keeps them.

use std::ops::Range;
use std::path::Path;

use hadris_fs::sync::Volume;
use hadris_fs::{Extent, MountOptions};
use hadris_iso::sync::IsoFs;
use hadris_storage::host::FileDevice;
use hadris_storage::sync::BlockDevice;

use super::ImageError;

/// One file of an image and where its bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedFile {
    /// Path from the image's root, without a leading slash.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Its bytes in file order, as byte ranges of the image (several for a multi-extent file).
    pub extents: Vec<Range<u64>>,
}

impl PlacedFile {
    /// The file's name, without its folder.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// Each extent with the offset in the file where its bytes start.
    pub fn extents_at(&self) -> impl Iterator<Item = (u64, Range<u64>)> + '_ {
        let mut at = 0;
        self.extents.iter().map(move |e| {
            let item = (at, e.clone());
            at += e.end - e.start;
            item
        })
    }
}

/// The byte ranges of `file` (whose bytes lie at `extents`, in file order) that hold its bytes
/// `at..at + len`, in order.
pub fn extents_of(
    extents: &[Range<u64>],
    at: u64,
    len: u64,
) -> impl Iterator<Item = Range<u64>> + '_ {
    let end = at + len;
    let mut start = 0u64;
    extents.iter().filter_map(move |e| {
        let n = e.end - e.start;
        let (from, to) = (at.max(start), end.min(start + n));
        let placed = start;
        start += n;
        (from < to).then(|| e.start + (from - placed)..e.start + (to - placed))
    })
}

/// Reads bytes `at..at + buf.len()` of a file whose bytes lie at `extents` of `file` (in file
/// order).
pub fn read_extents(
    file: &std::fs::File,
    extents: &[Range<u64>],
    at: u64,
    buf: &mut [u8],
) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut done = 0usize;
    for r in extents_of(extents, at, buf.len() as u64) {
        let n = (r.end - r.start) as usize;
        file.read_exact_at(&mut buf[done..done + n], r.start)?;
        done += n;
    }
    if done != buf.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the extents end before byte {}", at + buf.len() as u64),
        ));
    }
    Ok(())
}

/// The files and directories of an image.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Regular files, in path order (an empty one has no extent).
    pub files: Vec<PlacedFile>,
    /// The byte ranges of the directories' records (the tree the image is read through).
    pub directories: Vec<Range<u64>>,
}

/// Deeper directories than this are refused (ISO 9660 itself allows 8 levels; Rock Ridge more).
const MAX_DEPTH: usize = 64;

/// Extents asked for at once; a multi-extent file has one per 4 GiB.
const EXTENTS_AT_ONCE: usize = 16;

/// Reads the layout of the image file at `image`.
pub fn read_layout(image: &Path) -> Result<Layout, ImageError> {
    let dev = FileDevice::open(image).map_err(|e| image_error(image, e.to_string()))?;
    layout_of(dev).map_err(|reason| image_error(image, reason))
}

fn image_error(image: &Path, reason: String) -> ImageError {
    ImageError {
        image: image.display().to_string(),
        reason,
    }
}

/// Reads the layout of an image of `len` bytes through `read`, which fills a buffer from an
/// offset of the image (fetching what is not at hand first): only what the directories need is
/// asked for.
pub fn layout_through(
    len: u64,
    read: impl FnMut(u64, &mut [u8]) -> std::io::Result<()>,
) -> Result<Layout, String> {
    let reader = OnDemand { pos: 0, len, read };
    let sector = hadris_storage::BlockSize::new(2048).expect("2048 is a block size");
    let dev = hadris_storage::sync::StreamDevice::with_block_count(
        hadris_storage::ReadOnly::new(hadris_io::StdIo::new(reader)),
        sector,
        len / 2048,
    );
    layout_of(dev)
}

/// A seekable reader over a read-at function.
struct OnDemand<F> {
    pos: u64,
    len: u64,
    read: F,
}

impl<F: FnMut(u64, &mut [u8]) -> std::io::Result<()>> std::io::Read for OnDemand<F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.len.saturating_sub(self.pos)).min(buf.len() as u64) as usize;
        (self.read)(self.pos, &mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<F> std::io::Seek for OnDemand<F> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            std::io::SeekFrom::Start(p) => Some(p),
            std::io::SeekFrom::End(d) => self.len.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| std::io::Error::other("seek before the image's start"))?;
        Ok(self.pos)
    }
}

/// Reads the layout through any block device (a file, or bytes fetched on demand).
fn layout_of<D: BlockDevice>(dev: D) -> Result<Layout, String> {
    let fs = IsoFs::mount(dev, MountOptions::new()).map_err(|e| format!("{e:?}"))?;
    let vol = Volume::new(fs);
    let mut layout = Layout::default();
    let mut dirs = vec![String::new()];
    // A damaged or hostile image can make a directory its own descendant: each is read once.
    let mut seen = std::collections::HashSet::new();
    let mut buf = [Extent::new(0, 0); EXTENTS_AT_ONCE];
    while let Some(dir) = dirs.pop() {
        if dir.split('/').count() > MAX_DEPTH {
            return Err(format!(
                "directories nest deeper than {MAX_DEPTH} levels at {dir}"
            ));
        }
        let mut found = Vec::new();
        for entry in vol
            .read_dir(format!("/{dir}"))
            .map_err(|e| format!("{e:?}"))?
        {
            let entry = entry.map_err(|e| format!("{e:?}"))?;
            let name = String::from_utf8_lossy(entry.name().as_bytes()).into_owned();
            if name == "." || name == ".." {
                continue;
            }
            let path = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            let meta = entry.metadata();
            found.push((path, entry.node(), meta.file_type(), meta.len()));
        }
        let mut fs = vol.lock().map_err(|e| format!("{e:?}"))?;
        for (path, node, kind, size) in found {
            if kind.is_dir() {
                if seen.insert(node) {
                    let n = fs
                        .extents(node, 0, &mut buf)
                        .map_err(|e| format!("{path}: {e:?}"))?;
                    layout
                        .directories
                        .extend(buf[..n].iter().map(|e| e.offset()..e.offset() + e.len()));
                    dirs.push(path);
                }
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let mut extents = Vec::new();
            let mut from = 0;
            while from < size {
                let n = fs
                    .extents(node, from, &mut buf)
                    .map_err(|e| format!("{path}: {e:?}"))?;
                if n == 0 {
                    break;
                }
                for e in &buf[..n] {
                    extents.push(e.offset()..e.offset() + e.len());
                    from = from.max(e.file_offset() + e.len());
                }
            }
            let placed: u64 = extents.iter().map(|e| e.end - e.start).sum();
            if placed != size {
                return Err(format!(
                    "{path}: its extents hold {placed} bytes, its size is {size}"
                ));
            }
            layout.files.push(PlacedFile {
                path,
                size,
                extents,
            });
        }
    }
    layout.files.sort_by(|a, b| a.path.cmp(&b.path));
    layout.directories.sort_by_key(|r| r.start);
    Ok(layout)
}
