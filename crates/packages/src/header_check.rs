//! A bounds check of an RPM file's two headers before the rpm crate reads them: every index
//! entry's data must lie inside its header, and each header inside the file. The rpm crate
//! (0.30.2) trusts these counts and offsets: a damaged file made it allocate 32 GiB and abort
//! (found by fuzzing), which no `catch_unwind` can stop.

use std::io::Read;
use std::path::Path;

/// Bytes of the lead before the signature header.
const LEAD: usize = 96;
/// A header's intro: magic, reserved, index count, data size.
const INTRO: usize = 16;
const MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// Largest header read (rpm itself caps a header at 256 MiB).
const MAX_HEADER: usize = 256 << 20;

/// Why a file's headers cannot be read safely.
pub fn check(file: &Path) -> Result<(), String> {
    let mut f = std::fs::File::open(file).map_err(|e| e.to_string())?;
    let len = f.metadata().map_err(|e| e.to_string())?.len() as usize;
    let mut lead = [0u8; LEAD];
    f.read_exact(&mut lead)
        .map_err(|_| "it is shorter than an RPM lead".to_owned())?;
    let mut at = LEAD;
    for (name, aligned) in [("signature", true), ("main", false)] {
        let mut intro = [0u8; INTRO];
        f.read_exact(&mut intro)
            .map_err(|_| format!("its {name} header is cut short"))?;
        if intro[..4] != MAGIC {
            return Err(format!("its {name} header has no header magic"));
        }
        let count = u32::from_be_bytes(intro[8..12].try_into().unwrap()) as usize;
        let size = u32::from_be_bytes(intro[12..16].try_into().unwrap()) as usize;
        let total = count
            .checked_mul(16)
            .and_then(|i| i.checked_add(size))
            .filter(|t| *t <= MAX_HEADER && at + INTRO + t <= len)
            .ok_or_else(|| format!("its {name} header claims more bytes than the file has"))?;
        let mut index = vec![0u8; count * 16];
        f.read_exact(&mut index)
            .map_err(|_| format!("its {name} header is cut short"))?;
        for e in index.chunks_exact(16) {
            entry_fits(e, size).map_err(|why| format!("its {name} header {why}"))?;
        }
        at += INTRO + total;
        let next = if aligned { at.div_ceil(8) * 8 } else { at };
        std::io::copy(
            &mut (&mut f).take((next - at + size) as u64),
            &mut std::io::sink(),
        )
        .map_err(|e| e.to_string())?;
        at = next;
    }
    Ok(())
}

/// Whether one index entry's data lies inside a header data store of `size` bytes.
fn entry_fits(e: &[u8], size: usize) -> Result<(), String> {
    let word = |i: usize| u32::from_be_bytes(e[i..i + 4].try_into().unwrap()) as usize;
    let (kind, offset, count) = (word(4), word(8), word(12));
    let left = size
        .checked_sub(offset)
        .ok_or("has an entry past its data")?;
    let need = match kind {
        0 => 0,             // NULL
        1 | 2 | 7 => count, // CHAR, INT8, BIN
        3 => count.saturating_mul(2),
        4 => count.saturating_mul(4),
        5 => count.saturating_mul(8),
        // STRING, STRING_ARRAY, I18NSTRING: at least one byte (the NUL) per string.
        6 | 8 | 9 => count,
        _ => return Err(format!("has an entry of unknown type {kind}")),
    };
    if need > left {
        return Err("has an entry longer than its data".into());
    }
    Ok(())
}
