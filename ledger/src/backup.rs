//! The encrypted backup envelope: a state snapshot sealed with AES-256-GCM in chunks, so neither
//! writing nor reading a large backup needs it whole in memory.
//!
//! Layout, format version 1 (all integers big-endian):
//!
//! ```text
//! header (74 bytes):
//!   magic        8 bytes   "EDGLBKUP"
//!   version      2 bytes   1
//!   chain_id     8 bytes
//!   height       8 bytes
//!   state_root  32 bytes
//!   nonce       12 bytes   random base nonce, drawn by the caller for every backup
//!   chunk_bytes  4 bytes   plaintext bytes per chunk, BACKUP_CHUNK_BYTES_MIN..=BACKUP_CHUNK_BYTES_MAX
//! chunks, back to back, no framing:
//!   ciphertext ‖ 16-byte tag, one per chunk, in order
//! ```
//!
//! Every chunk but the last holds exactly `chunk_bytes` of plaintext; the last holds
//! `0..=chunk_bytes` (an empty backup is one empty last chunk). So the envelope needs no lengths:
//! a reader knows a full chunk is not the last when more bytes follow it, and the end of input
//! marks the last one.
//!
//! Chunk `i` is sealed with nonce = base nonce with its last 8 bytes XORed with `i`, and
//! associated data = the 74 header bytes ‖ `i` (8 bytes) ‖ last-chunk flag (1 byte). The header
//! bytes carry the chain id, height and state root (and bind the version, nonce and chunk size
//! too), so changing the header, reordering, dropping, truncating or appending chunks all fail
//! authentication. A cut at a chunk boundary is reported as [`BackupError::Truncated`].
//!
//! Nonce uniqueness: the base nonce is 96 random bits per backup and one backup has at most
//! `BACKUP_BYTES_MAX / BACKUP_CHUNK_BYTES_MIN` chunks, so two backups under one key reuse a
//! nonce only with negligible probability.

use std::fmt;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};

use crate::limits::{
    BACKUP_BYTES_MAX, BACKUP_CHUNK_BYTES_DEFAULT, BACKUP_CHUNK_BYTES_MAX, BACKUP_CHUNK_BYTES_MIN,
};
use crate::primitives::Hash;

/// First bytes of every backup envelope.
pub const BACKUP_MAGIC: [u8; 8] = *b"EDGLBKUP";
/// The format version this code writes and reads.
pub const BACKUP_VERSION: u16 = 1;
/// Bytes of the envelope header.
pub const BACKUP_HEADER_BYTES: usize = 74;
/// Bytes of the base nonce.
pub const BACKUP_NONCE_BYTES: usize = 12;
/// Bytes of the authentication tag after each chunk.
pub const BACKUP_TAG_BYTES: usize = 16;

/// Associated data of one chunk: header ‖ chunk index ‖ last flag.
const ASSOCIATED_DATA_BYTES: usize = BACKUP_HEADER_BYTES + 8 + 1;

const _: () = assert!(BACKUP_HEADER_BYTES == 8 + 2 + 8 + 8 + 32 + BACKUP_NONCE_BYTES + 4);

/// The random base nonce of one backup, drawn by the caller (entropy is an argument).
pub type BackupNonce = [u8; BACKUP_NONCE_BYTES];

/// Why a backup could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackupError {
    /// The input does not start with [`BACKUP_MAGIC`]: not a backup envelope.
    #[error("not an edgeledger backup (bad magic bytes)")]
    BadMagic,
    /// The envelope's format version is not one this code reads.
    #[error("backup format version {got} is not supported (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version in the envelope.
        got: u16,
        /// Version this code reads.
        supported: u16,
    },
    /// The chunk size is outside the allowed bounds.
    #[error("backup chunk size {got} is outside {min}..={max} bytes")]
    ChunkSize {
        /// Chunk size given or found.
        got: usize,
        /// Smallest allowed.
        min: usize,
        /// Largest allowed.
        max: usize,
    },
    /// The envelope ends early: inside the header or a chunk, or whole chunks are missing.
    #[error("backup is truncated")]
    Truncated,
    /// A chunk does not authenticate: the key is wrong or the data was tampered with.
    #[error("wrong key or tampered data (chunk {chunk} failed authentication)")]
    Authentication {
        /// Index of the first chunk that failed.
        chunk: u64,
    },
    /// The backup is for another chain, height or state root than expected.
    #[error("backup header mismatch: expected {expected}, got {got}")]
    HeaderMismatch {
        /// What the caller expected (from the backup index).
        expected: BackupHeaderFields,
        /// What the envelope says.
        got: BackupHeaderFields,
    },
    /// The envelope would be, or is, larger than [`BACKUP_BYTES_MAX`].
    #[error("backup of {got} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Envelope bytes.
        got: usize,
        /// Largest allowed envelope.
        limit: usize,
    },
    /// The key is not 32 bytes of hex.
    #[error("backup key must be 32 bytes of 0x-prefixed hex")]
    InvalidKey,
}

/// Result alias for backups.
pub type BackupResult<T> = Result<T, BackupError>;

/// The AES-256-GCM key backups are sealed with.
///
/// Deliberately neither `Debug` nor `Serialize`: the key leaves the process only on purpose;
/// its bytes are wiped when it is dropped.
#[derive(Clone)]
pub struct BackupKey([u8; 32]);

impl BackupKey {
    /// A key from its 32 bytes.
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses `0x` followed by 64 hex digits (the `BACKUP_ENCRYPTION_KEY` secret's form).
    pub fn from_hex(text: &str) -> BackupResult<Self> {
        crate::primitives::parse_hex_array::<32>(text.trim())
            .map(Self)
            .map_err(|_| BackupError::InvalidKey)
    }

    /// The cipher for this key.
    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.0))
    }
}

impl Drop for BackupKey {
    /// Wipes the key bytes, so a dropped key does not linger in (wasm linear) memory.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// What a backup is of: the fields bound into every chunk, and that a restore must match.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BackupHeaderFields {
    /// The chain.
    pub chain_id: u64,
    /// Height of the snapshot's block.
    pub height: u64,
    /// State root at that height.
    pub state_root: Hash,
}

impl fmt::Display for BackupHeaderFields {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "chain {} height {} state root {}",
            self.chain_id, self.height, self.state_root
        )
    }
}

/// The envelope header (see the module docs for the layout).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BackupHeader {
    /// What the backup is of.
    pub fields: BackupHeaderFields,
    /// Base nonce of the chunk nonces.
    pub nonce: BackupNonce,
    /// Plaintext bytes per chunk.
    pub chunk_bytes: u32,
}

impl BackupHeader {
    /// The 74 header bytes, version [`BACKUP_VERSION`].
    pub fn encode(&self) -> [u8; BACKUP_HEADER_BYTES] {
        let mut bytes = [0u8; BACKUP_HEADER_BYTES];
        bytes[0..8].copy_from_slice(&BACKUP_MAGIC);
        bytes[8..10].copy_from_slice(&BACKUP_VERSION.to_be_bytes());
        bytes[10..18].copy_from_slice(&self.fields.chain_id.to_be_bytes());
        bytes[18..26].copy_from_slice(&self.fields.height.to_be_bytes());
        bytes[26..58].copy_from_slice(self.fields.state_root.as_bytes());
        bytes[58..70].copy_from_slice(&self.nonce);
        bytes[70..74].copy_from_slice(&self.chunk_bytes.to_be_bytes());
        bytes
    }

    /// Reads the header at the start of an envelope, without the key: magic, version and chunk
    /// size are checked, nothing is authenticated yet.
    pub fn decode(bytes: &[u8]) -> BackupResult<Self> {
        check_magic_prefix(bytes)?;
        let Some(bytes) = bytes.get(..BACKUP_HEADER_BYTES) else {
            return Err(BackupError::Truncated);
        };
        let version = u16::from_be_bytes([bytes[8], bytes[9]]);
        if version != BACKUP_VERSION {
            return Err(BackupError::UnsupportedVersion {
                got: version,
                supported: BACKUP_VERSION,
            });
        }
        let header = Self {
            fields: BackupHeaderFields {
                chain_id: u64::from_be_bytes(array_at(bytes, 10)),
                height: u64::from_be_bytes(array_at(bytes, 18)),
                state_root: Hash(array_at(bytes, 26)),
            },
            nonce: array_at(bytes, 58),
            chunk_bytes: u32::from_be_bytes(array_at(bytes, 70)),
        };
        check_chunk_bytes(header.chunk_size())?;
        Ok(header)
    }

    /// Plaintext bytes per chunk, as a size.
    fn chunk_size(&self) -> usize {
        // u32 always fits usize on the 32- and 64-bit targets the crate builds for.
        self.chunk_bytes as usize
    }
}

/// The `N` bytes at `offset`; callers pass offsets inside the fixed-size header.
fn array_at<const N: usize>(bytes: &[u8], offset: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[offset..offset + N]);
    out
}

/// Refuses input whose first bytes (however few) differ from the magic.
fn check_magic_prefix(bytes: &[u8]) -> BackupResult<()> {
    let compared = bytes.len().min(BACKUP_MAGIC.len());
    if bytes[..compared] != BACKUP_MAGIC[..compared] {
        return Err(BackupError::BadMagic);
    }
    Ok(())
}

/// Chunk size within bounds.
fn check_chunk_bytes(chunk_bytes: usize) -> BackupResult<()> {
    if !(BACKUP_CHUNK_BYTES_MIN..=BACKUP_CHUNK_BYTES_MAX).contains(&chunk_bytes) {
        return Err(BackupError::ChunkSize {
            got: chunk_bytes,
            min: BACKUP_CHUNK_BYTES_MIN,
            max: BACKUP_CHUNK_BYTES_MAX,
        });
    }
    Ok(())
}

/// Envelope bytes for `plaintext_bytes` of plaintext in chunks of `chunk_bytes`, if it fits
/// [`BACKUP_BYTES_MAX`].
fn check_envelope_bytes(plaintext_bytes: usize, chunk_bytes: usize) -> BackupResult<usize> {
    let chunks = plaintext_bytes.div_ceil(chunk_bytes).max(1);
    let total = chunks
        .checked_mul(BACKUP_TAG_BYTES)
        .and_then(|tags| tags.checked_add(plaintext_bytes))
        .and_then(|body| body.checked_add(BACKUP_HEADER_BYTES))
        .unwrap_or(usize::MAX);
    if total > BACKUP_BYTES_MAX {
        return Err(BackupError::TooLarge {
            got: total,
            limit: BACKUP_BYTES_MAX,
        });
    }
    Ok(total)
}

/// The cipher and header shared by the writer and reader: derives chunk nonces and associated
/// data.
struct ChunkCipher {
    cipher: Aes256Gcm,
    header: BackupHeader,
    header_bytes: [u8; BACKUP_HEADER_BYTES],
}

impl ChunkCipher {
    fn new(key: &BackupKey, header: BackupHeader) -> Self {
        Self {
            cipher: key.cipher(),
            header,
            header_bytes: header.encode(),
        }
    }

    /// Base nonce with its last 8 bytes XORed with the chunk index.
    fn nonce(&self, chunk: u64) -> Nonce<aes_gcm::aead::consts::U12> {
        let mut nonce = self.header.nonce;
        for (byte, index_byte) in nonce[4..].iter_mut().zip(chunk.to_be_bytes()) {
            *byte ^= index_byte;
        }
        Nonce::from(nonce)
    }

    /// Header bytes ‖ chunk index ‖ last flag.
    fn associated_data(&self, chunk: u64, last: bool) -> [u8; ASSOCIATED_DATA_BYTES] {
        let mut data = [0u8; ASSOCIATED_DATA_BYTES];
        data[..BACKUP_HEADER_BYTES].copy_from_slice(&self.header_bytes);
        data[BACKUP_HEADER_BYTES..BACKUP_HEADER_BYTES + 8].copy_from_slice(&chunk.to_be_bytes());
        data[ASSOCIATED_DATA_BYTES - 1] = u8::from(last);
        data
    }

    /// Encrypts `plaintext` as chunk `chunk` and appends ciphertext and tag to `out`.
    fn seal_into(&self, chunk: u64, last: bool, plaintext: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(plaintext);
        let sealed = self.cipher.encrypt_inout_detached(
            &self.nonce(chunk),
            &self.associated_data(chunk, last),
            out[start..].as_mut().into(),
        );
        match sealed {
            Ok(tag) => out.extend_from_slice(&tag),
            // AES-GCM refuses only messages over 64 GiB; chunks are at most a few MiB.
            Err(_) => unreachable!("AES-GCM refused a chunk within BACKUP_CHUNK_BYTES_MAX"),
        }
    }

    /// Decrypts ciphertext ‖ tag in place into the plaintext; `None` if it does not authenticate.
    fn open_in_place(&self, chunk: u64, last: bool, mut sealed: Vec<u8>) -> Option<Vec<u8>> {
        let body_bytes = sealed.len().checked_sub(BACKUP_TAG_BYTES)?;
        let tag = Tag::try_from(&sealed[body_bytes..]).ok()?;
        self.cipher
            .decrypt_inout_detached(
                &self.nonce(chunk),
                &self.associated_data(chunk, last),
                sealed[..body_bytes].as_mut().into(),
                &tag,
            )
            .ok()?;
        sealed.truncate(body_bytes);
        Some(sealed)
    }
}

/// Streaming sealer: feed plaintext in pieces of any size, write out the bytes it returns.
///
/// Holds at most one chunk of plaintext: a full chunk is sealed once more plaintext arrives
/// (proving it is not the last), and [`Self::finish`] seals what remains as the last chunk.
pub struct BackupWriter {
    chunk_cipher: ChunkCipher,
    header_written: bool,
    pending: Vec<u8>,
    chunk: u64,
    plaintext_bytes: usize,
}

impl BackupWriter {
    /// A writer for a backup of `fields`, with base nonce `nonce` (fresh randomness for every
    /// backup) and `chunk_bytes` of plaintext per chunk.
    pub fn new(
        key: &BackupKey,
        nonce: BackupNonce,
        fields: BackupHeaderFields,
        chunk_bytes: usize,
    ) -> BackupResult<Self> {
        check_chunk_bytes(chunk_bytes)?;
        let header = BackupHeader {
            fields,
            nonce,
            // Checked against BACKUP_CHUNK_BYTES_MAX, which is asserted to fit u32.
            chunk_bytes: chunk_bytes as u32,
        };
        Ok(Self {
            chunk_cipher: ChunkCipher::new(key, header),
            header_written: false,
            pending: Vec::with_capacity(chunk_bytes),
            chunk: 0,
            plaintext_bytes: 0,
        })
    }

    /// The envelope header this writer emits.
    pub fn header(&self) -> &BackupHeader {
        &self.chunk_cipher.header
    }

    /// Adds plaintext; returns the envelope bytes that are ready (the header first, then every
    /// chunk known not to be the last). On error nothing was consumed.
    pub fn push(&mut self, plaintext: &[u8]) -> BackupResult<Vec<u8>> {
        let mut out = Vec::new();
        self.push_into(plaintext, &mut out)?;
        Ok(out)
    }

    /// Like [`Self::push`], appending the ready bytes to `out` (saves a copy per call).
    pub fn push_into(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> BackupResult<()> {
        let chunk_bytes = self.chunk_cipher.header.chunk_size();
        let plaintext_bytes = self.plaintext_bytes.saturating_add(plaintext.len());
        check_envelope_bytes(plaintext_bytes, chunk_bytes)?;
        self.plaintext_bytes = plaintext_bytes;
        self.write_header(out);
        let mut input = plaintext;
        loop {
            // Full chunks that more plaintext follows are sealed straight from the input.
            if self.pending.is_empty() && input.len() > chunk_bytes {
                let (chunk, rest) = input.split_at(chunk_bytes);
                self.chunk_cipher.seal_into(self.chunk, false, chunk, out);
                self.chunk += 1;
                input = rest;
                continue;
            }
            let take = (chunk_bytes - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() < chunk_bytes || input.is_empty() {
                return Ok(());
            }
            self.chunk_cipher
                .seal_into(self.chunk, false, &self.pending, out);
            self.pending.clear();
            self.chunk += 1;
        }
    }

    /// Seals the remaining plaintext as the last chunk and returns the final bytes.
    pub fn finish(self) -> Vec<u8> {
        let mut out = Vec::new();
        self.finish_into(&mut out);
        out
    }

    /// Like [`Self::finish`], appending the final bytes to `out`.
    pub fn finish_into(mut self, out: &mut Vec<u8>) {
        self.write_header(out);
        out.reserve(self.pending.len() + BACKUP_TAG_BYTES);
        self.chunk_cipher
            .seal_into(self.chunk, true, &self.pending, out);
    }

    /// Appends the header bytes the first time, nothing after.
    fn write_header(&mut self, out: &mut Vec<u8>) {
        if !self.header_written {
            self.header_written = true;
            out.extend_from_slice(&self.chunk_cipher.header_bytes);
        }
    }
}

/// Streaming opener: feed envelope bytes in pieces of any size, get back verified plaintext
/// chunks in order.
///
/// Holds at most one sealed chunk. A chunk is released only once it authenticates, so every
/// byte returned is genuine; but only [`Self::finish`] proves nothing was cut off the end, so
/// treat the plaintext as provisional until it succeeds. After an error every later call
/// returns the same error.
pub struct BackupReader {
    key: BackupKey,
    expected: Option<BackupHeaderFields>,
    chunk_cipher: Option<ChunkCipher>,
    buffer: Vec<u8>,
    chunk: u64,
    consumed_bytes: usize,
    failure: Option<BackupError>,
}

impl BackupReader {
    /// A reader for any backup sealed with `key`.
    pub fn new(key: &BackupKey) -> Self {
        Self {
            key: key.clone(),
            expected: None,
            chunk_cipher: None,
            buffer: Vec::new(),
            chunk: 0,
            consumed_bytes: 0,
            failure: None,
        }
    }

    /// A reader that refuses the backup as soon as its header names other fields than
    /// `expected`, before decrypting anything.
    pub fn expecting(key: &BackupKey, expected: BackupHeaderFields) -> Self {
        Self {
            expected: Some(expected),
            ..Self::new(key)
        }
    }

    /// The envelope header, once its bytes have arrived.
    pub fn header(&self) -> Option<&BackupHeader> {
        self.chunk_cipher.as_ref().map(|cipher| &cipher.header)
    }

    /// Consumes envelope bytes; returns the plaintext of every chunk completed and verified.
    pub fn push(&mut self, bytes: &[u8]) -> BackupResult<Vec<Vec<u8>>> {
        if let Some(failure) = &self.failure {
            return Err(failure.clone());
        }
        let result = self.push_unchecked(bytes);
        if let Err(failure) = &result {
            self.failure = Some(failure.clone());
        }
        result
    }

    /// Checks that the input ended at a complete last chunk and returns the header and that
    /// chunk's plaintext.
    pub fn finish(mut self) -> BackupResult<(BackupHeader, Vec<u8>)> {
        if let Some(failure) = self.failure.take() {
            return Err(failure);
        }
        let Some(chunk_cipher) = &self.chunk_cipher else {
            check_magic_prefix(&self.buffer)?;
            return Err(BackupError::Truncated);
        };
        let sealed = std::mem::take(&mut self.buffer);
        if sealed.len() < BACKUP_TAG_BYTES {
            return Err(BackupError::Truncated);
        }
        if let Some(plaintext) = chunk_cipher.open_in_place(self.chunk, true, sealed.clone()) {
            return Ok((chunk_cipher.header, plaintext));
        }
        // A chunk sealed as "not last" that authenticates as such means the chunks after it
        // were cut off, rather than anything being altered.
        if chunk_cipher
            .open_in_place(self.chunk, false, sealed)
            .is_some()
        {
            return Err(BackupError::Truncated);
        }
        Err(BackupError::Authentication { chunk: self.chunk })
    }

    /// [`Self::push`] without the sticky failure.
    fn push_unchecked(&mut self, bytes: &[u8]) -> BackupResult<Vec<Vec<u8>>> {
        self.consumed_bytes = self.consumed_bytes.saturating_add(bytes.len());
        if self.consumed_bytes > BACKUP_BYTES_MAX {
            return Err(BackupError::TooLarge {
                got: self.consumed_bytes,
                limit: BACKUP_BYTES_MAX,
            });
        }
        let mut input = bytes;
        if self.chunk_cipher.is_none() {
            input = self.read_header(input)?;
            if self.chunk_cipher.is_none() {
                return Ok(Vec::new());
            }
        }
        self.read_chunks(input)
    }

    /// Buffers header bytes; parses and checks the header once complete. Returns the input
    /// left over.
    fn read_header<'input>(&mut self, input: &'input [u8]) -> BackupResult<&'input [u8]> {
        let take = (BACKUP_HEADER_BYTES - self.buffer.len()).min(input.len());
        self.buffer.extend_from_slice(&input[..take]);
        check_magic_prefix(&self.buffer)?;
        if self.buffer.len() < BACKUP_HEADER_BYTES {
            return Ok(&input[take..]);
        }
        let header = BackupHeader::decode(&self.buffer)?;
        if let Some(expected) = self.expected {
            if expected != header.fields {
                return Err(BackupError::HeaderMismatch {
                    expected,
                    got: header.fields,
                });
            }
        }
        self.buffer = Vec::with_capacity(header.chunk_size() + BACKUP_TAG_BYTES);
        self.chunk_cipher = Some(ChunkCipher::new(&self.key, header));
        Ok(&input[take..])
    }

    /// Buffers sealed chunks, opening each full one that more bytes follow.
    fn read_chunks(&mut self, mut input: &[u8]) -> BackupResult<Vec<Vec<u8>>> {
        let Some(chunk_cipher) = &self.chunk_cipher else {
            return Ok(Vec::new());
        };
        let sealed_bytes = chunk_cipher.header.chunk_size() + BACKUP_TAG_BYTES;
        let mut plaintexts = Vec::new();
        loop {
            let take = (sealed_bytes - self.buffer.len()).min(input.len());
            self.buffer.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.buffer.len() < sealed_bytes || input.is_empty() {
                return Ok(plaintexts);
            }
            let sealed = std::mem::replace(&mut self.buffer, Vec::with_capacity(sealed_bytes));
            let plaintext = chunk_cipher
                .open_in_place(self.chunk, false, sealed)
                .ok_or(BackupError::Authentication { chunk: self.chunk })?;
            plaintexts.push(plaintext);
            self.chunk += 1;
        }
    }
}

/// Seals `plaintext` in one call, in chunks of [`BACKUP_CHUNK_BYTES_DEFAULT`].
pub fn seal(
    key: &BackupKey,
    nonce: BackupNonce,
    fields: BackupHeaderFields,
    plaintext: &[u8],
) -> BackupResult<Vec<u8>> {
    seal_chunked(key, nonce, fields, BACKUP_CHUNK_BYTES_DEFAULT, plaintext)
}

/// Seals `plaintext` in one call, in chunks of `chunk_bytes`.
pub fn seal_chunked(
    key: &BackupKey,
    nonce: BackupNonce,
    fields: BackupHeaderFields,
    chunk_bytes: usize,
    plaintext: &[u8],
) -> BackupResult<Vec<u8>> {
    let mut writer = BackupWriter::new(key, nonce, fields, chunk_bytes)?;
    let total = check_envelope_bytes(plaintext.len(), chunk_bytes)?;
    let mut envelope = Vec::with_capacity(total);
    writer.push_into(plaintext, &mut envelope)?;
    writer.finish_into(&mut envelope);
    Ok(envelope)
}

/// Opens a whole envelope in one call: its header and the verified plaintext.
pub fn open(key: &BackupKey, bytes: &[u8]) -> BackupResult<(BackupHeader, Vec<u8>)> {
    open_with(BackupReader::new(key), bytes)
}

/// Like [`open`], and refuses a backup of other fields than `expected` before decrypting it.
pub fn open_expecting(
    key: &BackupKey,
    bytes: &[u8],
    expected: &BackupHeaderFields,
) -> BackupResult<(BackupHeader, Vec<u8>)> {
    open_with(BackupReader::expecting(key, *expected), bytes)
}

/// Drives `reader` over `bytes` a chunk's worth at a time, collecting the plaintext.
fn open_with(mut reader: BackupReader, bytes: &[u8]) -> BackupResult<(BackupHeader, Vec<u8>)> {
    if bytes.len() > BACKUP_BYTES_MAX {
        return Err(BackupError::TooLarge {
            got: bytes.len(),
            limit: BACKUP_BYTES_MAX,
        });
    }
    let mut plaintext = Vec::with_capacity(bytes.len());
    for piece in bytes.chunks(BACKUP_CHUNK_BYTES_DEFAULT) {
        for chunk in reader.push(piece)? {
            plaintext.extend_from_slice(&chunk);
        }
    }
    let (header, last) = reader.finish()?;
    plaintext.extend_from_slice(&last);
    Ok((header, plaintext))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::keccak256;

    const CHUNK: usize = BACKUP_CHUNK_BYTES_MIN;

    fn key() -> BackupKey {
        BackupKey::new([42; 32])
    }

    fn fields() -> BackupHeaderFields {
        BackupHeaderFields {
            chain_id: 31_337,
            height: 120,
            state_root: keccak256(b"state"),
        }
    }

    fn plaintext(bytes: usize) -> Vec<u8> {
        (0..bytes)
            .map(|index| (index * 7 + index / 251) as u8)
            .collect()
    }

    fn sealed(bytes: usize) -> Vec<u8> {
        seal_chunked(&key(), [9; 12], fields(), CHUNK, &plaintext(bytes)).expect("seals")
    }

    /// Byte offset of chunk `index` in an envelope with chunks of [`CHUNK`].
    fn chunk_offset(index: usize) -> usize {
        BACKUP_HEADER_BYTES + index * (CHUNK + BACKUP_TAG_BYTES)
    }

    #[test]
    fn round_trips_empty_one_byte_and_many_chunks() {
        for bytes in [
            0,
            1,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            10 * CHUNK,
            10 * CHUNK + 3,
        ] {
            let envelope = sealed(bytes);
            let chunks = bytes.div_ceil(CHUNK).max(1);
            assert_eq!(
                envelope.len(),
                BACKUP_HEADER_BYTES + bytes + chunks * BACKUP_TAG_BYTES
            );
            let (header, opened) = open(&key(), &envelope).expect("opens");
            assert_eq!(opened, plaintext(bytes), "{bytes} bytes");
            assert_eq!(header.fields, fields());
            assert_eq!(header.chunk_bytes as usize, CHUNK);
            assert_eq!(
                open_expecting(&key(), &envelope, &fields()).map(|(_, text)| text),
                Ok(plaintext(bytes))
            );
        }
    }

    #[test]
    fn default_chunking_round_trips() {
        let text = plaintext(3 * 1024 * 1024 + 5);
        let envelope = seal(&key(), [1; 12], fields(), &text).expect("seals");
        assert_eq!(open(&key(), &envelope).map(|(_, opened)| opened), Ok(text));
    }

    #[test]
    fn header_layout_is_fixed() {
        let envelope = sealed(0);
        assert_eq!(&envelope[..8], b"EDGLBKUP");
        assert_eq!(&envelope[8..10], &[0, 1]);
        assert_eq!(&envelope[10..18], &31_337u64.to_be_bytes());
        assert_eq!(&envelope[18..26], &120u64.to_be_bytes());
        assert_eq!(&envelope[26..58], fields().state_root.as_bytes());
        assert_eq!(&envelope[58..70], &[9; 12]);
        assert_eq!(&envelope[70..74], &(CHUNK as u32).to_be_bytes());
        let header = BackupHeader::decode(&envelope).expect("header");
        assert_eq!(header.encode().as_slice(), &envelope[..BACKUP_HEADER_BYTES]);
    }

    #[test]
    fn wrong_key_is_an_authentication_failure() {
        let envelope = sealed(100);
        let error = open(&BackupKey::new([43; 32]), &envelope).expect_err("wrong key");
        assert_eq!(error, BackupError::Authentication { chunk: 0 });
        assert!(error.to_string().contains("wrong key or tampered data"));
    }

    #[test]
    fn bad_magic_and_unsupported_version() {
        let mut envelope = sealed(10);
        envelope[0] ^= 1;
        assert_eq!(open(&key(), &envelope), Err(BackupError::BadMagic));
        assert_eq!(open(&key(), b"PK\x03\x04"), Err(BackupError::BadMagic));
        let mut envelope = sealed(10);
        envelope[9] = 2;
        assert_eq!(
            open(&key(), &envelope),
            Err(BackupError::UnsupportedVersion {
                got: 2,
                supported: 1
            })
        );
    }

    #[test]
    fn truncation_anywhere_is_detected() {
        let envelope = sealed(3 * CHUNK + 10);
        for cut in [0, 5, 40, BACKUP_HEADER_BYTES, BACKUP_HEADER_BYTES + 15] {
            assert_eq!(
                open(&key(), &envelope[..cut]),
                Err(BackupError::Truncated),
                "cut at {cut}"
            );
        }
        // Whole chunks cut off at a chunk boundary.
        for chunks in 1..=3 {
            assert_eq!(
                open(&key(), &envelope[..chunk_offset(chunks)]),
                Err(BackupError::Truncated),
                "{chunks} chunks kept"
            );
        }
        // A cut inside a chunk leaves a short last chunk that cannot authenticate.
        assert!(matches!(
            open(&key(), &envelope[..envelope.len() - 1]),
            Err(BackupError::Authentication { .. })
        ));
    }

    #[test]
    fn tampering_reordering_dropping_and_appending_fail() {
        let envelope = sealed(3 * CHUNK);
        let mut flipped = envelope.clone();
        flipped[chunk_offset(1) + 3] ^= 0x80;
        assert_eq!(
            open(&key(), &flipped),
            Err(BackupError::Authentication { chunk: 1 })
        );
        let mut reordered = envelope[..chunk_offset(0)].to_vec();
        reordered.extend_from_slice(&envelope[chunk_offset(1)..chunk_offset(2)]);
        reordered.extend_from_slice(&envelope[chunk_offset(0)..chunk_offset(1)]);
        reordered.extend_from_slice(&envelope[chunk_offset(2)..]);
        assert_eq!(
            open(&key(), &reordered),
            Err(BackupError::Authentication { chunk: 0 })
        );
        let mut dropped = envelope[..chunk_offset(1)].to_vec();
        dropped.extend_from_slice(&envelope[chunk_offset(2)..]);
        assert_eq!(
            open(&key(), &dropped),
            Err(BackupError::Authentication { chunk: 1 })
        );
        let mut appended = envelope.clone();
        appended.extend_from_slice(&envelope[chunk_offset(1)..chunk_offset(2)]);
        assert!(matches!(
            open(&key(), &appended),
            Err(BackupError::Authentication { .. })
        ));
        let mut extra_byte = envelope;
        extra_byte.push(0);
        assert!(matches!(
            open(&key(), &extra_byte),
            Err(BackupError::Authentication { .. })
        ));
    }

    #[test]
    fn changed_header_fields_fail_authentication() {
        let envelope = sealed(CHUNK + 1);
        // Chain id, height, state root, nonce and chunk size (kept in bounds) each bound.
        for offset in [17, 25, 57, 69, 72] {
            let mut changed = envelope.clone();
            changed[offset] ^= 1;
            assert!(
                matches!(
                    open(&key(), &changed),
                    Err(BackupError::Authentication { .. }) | Err(BackupError::Truncated)
                ),
                "offset {offset}"
            );
        }
    }

    #[test]
    fn header_mismatch_names_both_sides() {
        let envelope = sealed(10);
        for expected in [
            BackupHeaderFields {
                chain_id: 1,
                ..fields()
            },
            BackupHeaderFields {
                height: 121,
                ..fields()
            },
            BackupHeaderFields {
                state_root: Hash::ZERO,
                ..fields()
            },
        ] {
            let error = open_expecting(&key(), &envelope, &expected).expect_err("mismatch");
            assert_eq!(
                error,
                BackupError::HeaderMismatch {
                    expected,
                    got: fields()
                }
            );
            assert!(error.to_string().contains("height 120"));
        }
    }

    #[test]
    fn size_limits() {
        assert!(matches!(
            BackupWriter::new(&key(), [0; 12], fields(), CHUNK - 1),
            Err(BackupError::ChunkSize { .. })
        ));
        assert!(matches!(
            BackupWriter::new(&key(), [0; 12], fields(), BACKUP_CHUNK_BYTES_MAX + 1),
            Err(BackupError::ChunkSize { .. })
        ));
        let mut envelope = sealed(10);
        envelope[70..74].copy_from_slice(&1u32.to_be_bytes());
        assert!(matches!(
            open(&key(), &envelope),
            Err(BackupError::ChunkSize { got: 1, .. })
        ));
        let mut writer =
            BackupWriter::new(&key(), [0; 12], fields(), BACKUP_CHUNK_BYTES_MAX).expect("writer");
        let big = vec![0u8; BACKUP_BYTES_MAX];
        assert!(matches!(
            writer.push(&big),
            Err(BackupError::TooLarge { .. })
        ));
        assert!(matches!(
            open(&key(), &vec![0u8; BACKUP_BYTES_MAX + 1]),
            Err(BackupError::TooLarge { .. })
        ));
        let mut reader = BackupReader::new(&key());
        assert!(matches!(reader.push(&big), Err(BackupError::BadMagic)));
    }

    #[test]
    fn streaming_in_small_pieces_matches_one_shot() {
        let text = plaintext(5 * CHUNK + 17);
        let mut writer = BackupWriter::new(&key(), [9; 12], fields(), CHUNK).expect("writer");
        let mut envelope = Vec::new();
        for piece in text.chunks(13) {
            envelope.extend(writer.push(piece).expect("push"));
        }
        envelope.extend(writer.finish());
        assert_eq!(envelope, sealed(text.len()));

        let mut reader = BackupReader::expecting(&key(), fields());
        let mut opened = Vec::new();
        for piece in envelope.chunks(7) {
            for chunk in reader.push(piece).expect("push") {
                assert!(chunk.len() == CHUNK);
                opened.extend(chunk);
            }
        }
        assert_eq!(reader.header().map(|header| header.fields), Some(fields()));
        let (_, last) = reader.finish().expect("finish");
        opened.extend(last);
        assert_eq!(opened, text);
    }

    #[test]
    fn reader_errors_are_sticky() {
        let mut envelope = sealed(3 * CHUNK);
        envelope[chunk_offset(0)] ^= 1;
        let mut reader = BackupReader::new(&key());
        let error = reader.push(&envelope).expect_err("tampered");
        assert_eq!(reader.push(&[]), Err(error.clone()));
        assert_eq!(reader.finish(), Err(error));
    }

    #[test]
    fn key_parses_from_hex_only() {
        let text = format!("0x{}", "ab".repeat(32));
        assert!(BackupKey::from_hex(&text).is_ok());
        assert!(matches!(
            BackupKey::from_hex("0x1234"),
            Err(BackupError::InvalidKey)
        ));
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn round_trips_any_size_and_chunking(
                bytes in 0usize..4_000,
                chunk_bytes in BACKUP_CHUNK_BYTES_MIN..600,
                piece_bytes in 1usize..900,
                nonce in any::<[u8; 12]>(),
                seed in any::<u8>(),
            ) {
                let text: Vec<u8> = (0..bytes).map(|index| (index as u8).wrapping_mul(seed)).collect();
                let envelope = seal_chunked(&key(), nonce, fields(), chunk_bytes, &text).expect("seals");
                let mut writer = BackupWriter::new(&key(), nonce, fields(), chunk_bytes).expect("writer");
                let mut streamed = Vec::new();
                for piece in text.chunks(piece_bytes) {
                    streamed.extend(writer.push(piece).expect("push"));
                }
                streamed.extend(writer.finish());
                prop_assert_eq!(&streamed, &envelope);
                let mut reader = BackupReader::new(&key());
                let mut opened = Vec::new();
                for piece in envelope.chunks(piece_bytes) {
                    for chunk in reader.push(piece).expect("push") {
                        opened.extend(chunk);
                    }
                }
                let (header, last) = reader.finish().expect("finish");
                opened.extend(last);
                prop_assert_eq!(header.nonce, nonce);
                prop_assert_eq!(opened, text);
            }
        }
    }
}
