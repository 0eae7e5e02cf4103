//! Fetching chosen pieces from one peer over the BitTorrent wire protocol (messages from
//! `librqbit-peer-protocol`), outside librqbit's piece picker.
//!
//! A switch needs the few pieces holding the target image's directories before anything else, and
//! librqbit cannot be asked for exactly those: a stream makes the 32 MiB after its position
//! priority pieces, and requests up to 2 MiB ahead per peer at once, most of it file data that the
//! pre-fill would have placed from local files. So this link asks a peer for one piece at a time,
//! and checks each against the torrent's SHA-1 before anyone uses it.

use std::net::SocketAddr;
use std::time::Duration;

use librqbit_core::hash_id::Id20;
use librqbit_peer_protocol::{Handshake, Message, MessageDeserializeError, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use swarmdate_core::hash::PieceHash;
use swarmdate_core::torrent::{PieceIndex, Torrent};

/// Blocks are asked for in this size, as every client serves them.
const BLOCK: u32 = 16 << 10;

/// What one read from a peer takes at most.
const READ_CHUNK: usize = 16 << 10;

/// How long a peer may take to answer anything (Transmission unchokes on a 10 s timer).
const PATIENCE: Duration = Duration::from_secs(30);

/// What can go wrong on a link.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The connection failed or ended.
    #[error("peer {peer}: {source}")]
    Io {
        /// The peer.
        peer: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The peer said something that is not the protocol, or not this torrent.
    #[error("peer {peer}: {what}")]
    Protocol {
        /// The peer.
        peer: SocketAddr,
        /// What it did.
        what: String,
    },
    /// The peer did not answer in time.
    #[error("peer {peer} did not answer within {secs} s")]
    Timeout {
        /// The peer.
        peer: SocketAddr,
        /// How long it was given.
        secs: u64,
    },
}

/// One connection to one peer that serves whole pieces on request.
pub struct PeerLink {
    peer: SocketAddr,
    stream: TcpStream,
    /// Bytes read but not yet parsed.
    inbox: Vec<u8>,
    /// Which pieces the peer says it has (empty until its bitfield).
    has: Vec<bool>,
    unchoked: bool,
    interested: bool,
}

impl PeerLink {
    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Connects and shakes hands for `torrent`.
    pub async fn connect(
        peer: SocketAddr,
        torrent: &Torrent,
        peer_id: [u8; 20],
    ) -> Result<PeerLink, WireError> {
        let stream = io_within(peer, PATIENCE, TcpStream::connect(peer)).await?;
        let mut link = PeerLink {
            peer,
            stream,
            inbox: Vec::new(),
            has: vec![false; torrent.pieces().len()],
            unchoked: false,
            interested: false,
        };
        let info_hash = Id20::new(torrent.info_hash().0);
        send_handshake(&mut link.stream, peer, info_hash, Id20::new(peer_id)).await?;
        read_handshake(&mut link.stream, peer, info_hash, PATIENCE).await?;
        Ok(link)
    }

    /// Fetches piece `i` and checks it; the bytes are the torrent's. A peer that keeps the link
    /// alive without serving it gets twice the patience, not forever.
    pub async fn piece(&mut self, torrent: &Torrent, i: PieceIndex) -> Result<Vec<u8>, WireError> {
        let peer = self.peer;
        within(peer, 2 * PATIENCE, self.piece_now(torrent, i)).await?
    }

    async fn piece_now(&mut self, torrent: &Torrent, i: PieceIndex) -> Result<Vec<u8>, WireError> {
        let len = torrent.piece_len(i.0) as u32;
        if !self.interested {
            self.send(Message::Interested).await?;
            self.interested = true;
        }
        while !self.unchoked || !self.has.get(i.0 as usize).copied().unwrap_or(false) {
            if self.unchoked && self.has.iter().any(|h| *h) {
                return Err(self.protocol(format!("it does not have piece {}", i.0)));
            }
            self.next_message(None).await?;
        }
        let mut data = vec![0u8; len as usize];
        let mut begin = 0;
        while begin < len {
            let n = BLOCK.min(len - begin);
            self.send(Message::Request(Request::new(i.0, begin, n)))
                .await?;
            begin += n;
        }
        let mut got = 0u32;
        while got < len {
            if let Some(n) = self.next_message(Some((i.0, &mut data))).await? {
                got += n;
            }
            if !self.unchoked {
                return Err(self.protocol("it choked us in the middle of a piece".into()));
            }
        }
        if PieceHash::of(&data) != torrent.pieces()[i.0 as usize] {
            return Err(self.protocol(format!("piece {} failed its check", i.0)));
        }
        Ok(data)
    }

    fn protocol(&self, what: String) -> WireError {
        WireError::Protocol {
            peer: self.peer,
            what,
        }
    }

    async fn send(&mut self, msg: Message<'_>) -> Result<(), WireError> {
        let mut out = [0u8; 32];
        let n = msg
            .serialize(&mut out, &Default::default)
            .map_err(|e| self.protocol(e.to_string()))?;
        let peer = self.peer;
        self.stream
            .write_all(&out[..n])
            .await
            .map_err(|source| WireError::Io { peer, source })
    }

    /// Reads one message and acts on it; a block of `into`'s piece is copied in and its length
    /// returned.
    async fn next_message(
        &mut self,
        into: Option<(u32, &mut [u8])>,
    ) -> Result<Option<u32>, WireError> {
        // A bitfield is as long as the pieces; nothing else exceeds a block and its header.
        let bitfield = self.has.len().div_ceil(8) + 1;
        let most = |id| {
            if id == 5 {
                bitfield
            } else {
                BLOCK as usize + 64
            }
        };
        let len = next_frame(&mut self.stream, &mut self.inbox, self.peer, most, PATIENCE).await?;
        let result = self.handle(len, into);
        self.inbox.drain(..4 + len);
        result
    }

    fn handle(
        &mut self,
        len: usize,
        into: Option<(u32, &mut [u8])>,
    ) -> Result<Option<u32>, WireError> {
        let Some(msg) = decode(&self.inbox, len, self.peer)? else {
            return Ok(None);
        };
        match msg {
            Message::Bitfield(bits) => {
                let bits: &[u8] = bits.as_ref();
                for (i, h) in self.has.iter_mut().enumerate() {
                    *h = bitfield_has(bits, i);
                }
            }
            Message::Have(i) => {
                if let Some(h) = self.has.get_mut(i as usize) {
                    *h = true;
                }
            }
            Message::Unchoke => self.unchoked = true,
            Message::Choke => self.unchoked = false,
            Message::Piece(p) => {
                if let Some((want, data)) = into
                    && p.index == want
                {
                    let (a, b) = p.data();
                    let at = p.begin as usize;
                    let end = at + a.len() + b.len();
                    if end > data.len() {
                        return Err(self.protocol("a block past the piece's end".into()));
                    }
                    data[at..at + a.len()].copy_from_slice(a);
                    data[at + a.len()..end].copy_from_slice(b);
                    return Ok(Some((a.len() + b.len()) as u32));
                }
            }
            // We serve nothing on this link, and keep-alives need no answer.
            _ => {}
        }
        Ok(None)
    }
}

/// Sends our handshake for `info_hash`, offering no extensions (the base protocol is all our
/// links and our seeder speak).
pub(super) async fn send_handshake<W: tokio::io::AsyncWrite + Unpin>(
    stream: &mut W,
    peer: SocketAddr,
    info_hash: Id20,
    peer_id: Id20,
) -> Result<(), WireError> {
    let mut hello = Handshake::new(info_hash, peer_id);
    hello.reserved = 0;
    let mut out = [0u8; 68];
    let n = hello.serialize_unchecked_len(&mut out);
    stream
        .write_all(&out[..n])
        .await
        .map_err(|source| WireError::Io { peer, source })
}

/// `step` of `peer` within `patience`; a slower peer times out.
async fn within<T>(
    peer: SocketAddr,
    patience: Duration,
    step: impl std::future::Future<Output = T>,
) -> Result<T, WireError> {
    tokio::time::timeout(patience, step)
        .await
        .map_err(|_| WireError::Timeout {
            peer,
            secs: patience.as_secs(),
        })
}

/// An I/O `step` of `peer` within `patience`.
async fn io_within<T>(
    peer: SocketAddr,
    patience: Duration,
    step: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, WireError> {
    within(peer, patience, step)
        .await?
        .map_err(|source| WireError::Io { peer, source })
}

/// Reads the peer's handshake within `patience`; it must be for `info_hash`.
pub(super) async fn read_handshake<R: tokio::io::AsyncRead + Unpin>(
    stream: &mut R,
    peer: SocketAddr,
    info_hash: Id20,
    patience: Duration,
) -> Result<(), WireError> {
    let protocol = |what: String| WireError::Protocol { peer, what };
    let mut theirs = [0u8; 68];
    io_within(peer, patience, stream.read_exact(&mut theirs)).await?;
    let (h, _) = Handshake::deserialize(&theirs).map_err(|e| protocol(e.to_string()))?;
    if h.info_hash != info_hash {
        return Err(protocol("it spoke of another torrent".into()));
    }
    Ok(())
}

/// The message of `len` bytes at the start of `inbox` (after its 4-byte prefix); `None` for one of
/// an extension we did not offer (DHT port, fast, extended), which is skipped.
pub(super) fn decode(
    inbox: &[u8],
    len: usize,
    peer: SocketAddr,
) -> Result<Option<Message<'_>>, WireError> {
    match Message::deserialize(&inbox[..4 + len], &[]) {
        Ok((msg, _)) => Ok(Some(msg)),
        Err(MessageDeserializeError::UnsupportedMessageId(_)) => Ok(None),
        Err(e) => Err(WireError::Protocol {
            peer,
            what: e.to_string(),
        }),
    }
}

/// Whether a bitfield says the peer has piece `i`.
pub(super) fn bitfield_has(bits: &[u8], i: usize) -> bool {
    bits.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
}

/// Reads from `stream` into `inbox` until it starts with a whole message, and returns that
/// message's length (without its 4-byte prefix). Keep-alives are consumed; a message longer than
/// `most(id)` is refused before it is read; a peer silent for `patience` times out.
pub(super) async fn next_frame<R: tokio::io::AsyncRead + Unpin>(
    stream: &mut R,
    inbox: &mut Vec<u8>,
    peer: SocketAddr,
    most: impl Fn(u8) -> usize,
    patience: Duration,
) -> Result<usize, WireError> {
    let protocol = |what| WireError::Protocol { peer, what };
    loop {
        if inbox.len() >= 4 && inbox[..4] == [0; 4] {
            // A keep-alive: no id, nothing to do.
            inbox.drain(..4);
            continue;
        }
        if inbox.len() >= 5 {
            let len = u32::from_be_bytes(inbox[..4].try_into().expect("4 bytes")) as usize;
            if len > most(inbox[4]) {
                return Err(protocol(format!("a message of {len} bytes")));
            }
            if inbox.len() >= 4 + len {
                return Ok(len);
            }
        }
        // Straight into the inbox: a waiting reader holds no buffer of its own (an origin has
        // hundreds of them).
        inbox.reserve(READ_CHUNK);
        let n = io_within(peer, patience, stream.read_buf(inbox)).await?;
        if n == 0 {
            return Err(WireError::Io {
                peer,
                source: std::io::ErrorKind::UnexpectedEof.into(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    //! The peer here is a scripted TCP server: a misbehaving peer is not something a real client
    //! can be made to be.
    use super::*;
    use swarmdate_core::torrent::TorrentBuilder;
    use tokio::net::TcpListener;

    /// A torrent of two 32 KiB pieces and its payload.
    fn torrent() -> (Torrent, Vec<u8>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..64 << 10).map(|i| (i * 7 % 251) as u8).collect();
        let path = dir.path().join("image.iso");
        std::fs::write(&path, &data).unwrap();
        let t = TorrentBuilder::single_file("image.iso", &path)
            .piece_length(32 << 10)
            .build()
            .unwrap();
        (t, data, dir)
    }

    fn frame(id: u8, body: &[u8]) -> Vec<u8> {
        let mut m = ((body.len() + 1) as u32).to_be_bytes().to_vec();
        m.push(id);
        m.extend_from_slice(body);
        m
    }

    /// A peer that shakes hands, sends `greeting`, and answers each request with the block
    /// `serve` makes of the payload.
    async fn peer(
        t: &Torrent,
        data: Vec<u8>,
        greeting: Vec<u8>,
        serve: fn(&[u8]) -> Vec<u8>,
    ) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hash = t.info_hash().0;
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut theirs = [0u8; 68];
            s.read_exact(&mut theirs).await.unwrap();
            let mut hello = Handshake::new(Id20::new(hash), Id20::new([9; 20]));
            hello.reserved = 0;
            let mut out = [0u8; 68];
            let n = hello.serialize_unchecked_len(&mut out);
            s.write_all(&out[..n]).await.unwrap();
            s.write_all(&greeting).await.unwrap();
            loop {
                let mut len = [0u8; 4];
                if s.read_exact(&mut len).await.is_err() {
                    return;
                }
                let mut msg = vec![0u8; u32::from_be_bytes(len) as usize];
                s.read_exact(&mut msg).await.unwrap();
                if msg.first() == Some(&6) {
                    let index = u32::from_be_bytes(msg[1..5].try_into().unwrap());
                    let begin = u32::from_be_bytes(msg[5..9].try_into().unwrap());
                    let n = u32::from_be_bytes(msg[9..13].try_into().unwrap());
                    let at = (index * (32 << 10) + begin) as usize;
                    let mut body = msg[1..9].to_vec();
                    body.extend(serve(&data[at..at + n as usize]));
                    // A keep-alive between blocks, as peers send them.
                    s.write_all(&[0, 0, 0, 0]).await.unwrap();
                    s.write_all(&frame(7, &body)).await.unwrap();
                }
            }
        });
        addr
    }

    fn seeder_greeting() -> Vec<u8> {
        let mut g = frame(5, &[0b1100_0000]);
        g.extend(frame(1, &[]));
        g
    }

    #[tokio::test]
    async fn a_piece_arrives_checked_and_a_corrupt_one_is_refused() {
        let (t, data, _dir) = torrent();
        let honest = peer(&t, data.clone(), seeder_greeting(), |b| b.to_vec()).await;
        let mut link = PeerLink::connect(honest, &t, [1; 20]).await.unwrap();
        let got = link.piece(&t, PieceIndex(1)).await.unwrap();
        assert_eq!(got, data[32 << 10..]);

        let liar = peer(&t, data, seeder_greeting(), |b| {
            let mut b = b.to_vec();
            b[0] ^= 1;
            b
        })
        .await;
        let mut link = PeerLink::connect(liar, &t, [1; 20]).await.unwrap();
        let err = link.piece(&t, PieceIndex(0)).await.unwrap_err();
        assert!(err.to_string().contains("failed its check"), "{err}");
    }

    #[tokio::test]
    async fn a_huge_message_is_refused_before_it_is_read() {
        let (t, data, _dir) = torrent();
        // A "bitfield" of 1 GB.
        let mut greeting = (1u32 << 30).to_be_bytes().to_vec();
        greeting.push(5);
        let addr = peer(&t, data, greeting, |b| b.to_vec()).await;
        let mut link = PeerLink::connect(addr, &t, [1; 20]).await.unwrap();
        let err = link.piece(&t, PieceIndex(0)).await.unwrap_err();
        assert!(err.to_string().contains("a message of"), "{err}");
    }
}
