//! A reader that fails, rather than ends, past a number of bytes: a decompression bomb gets a
//! clear error instead of filling the memory or being cut off into a misleading parse error.

use std::io::{self, Read};

/// Reads at most `left` bytes from `inner`; one byte more is an error.
pub struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Bounded<R> {
    /// Bounds `inner` to `limit` bytes.
    pub fn new(inner: R, limit: u64) -> Self {
        Bounded { inner, left: limit }
    }
}

/// The message of the error a [`Bounded`] reader returns past its bound.
pub const PAST_BOUND: &str = "more bytes than the bound";

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte past the bound is enough to know it is exceeded.
        let want = buf
            .len()
            .min(self.left.saturating_add(1).min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            return Err(io::Error::new(io::ErrorKind::InvalidData, PAST_BOUND));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_to_the_bound_reads_and_one_byte_past_it_fails() {
        let mut ok = Vec::new();
        Bounded::new(&[7u8; 100][..], 100)
            .read_to_end(&mut ok)
            .unwrap();
        assert_eq!(ok, vec![7u8; 100]);
        let err = Bounded::new(&[7u8; 101][..], 100)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(err.to_string(), PAST_BOUND);
    }
}
