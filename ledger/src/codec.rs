//! Canonical MessagePack encoding for everything that is hashed, signed or stored.
//!
//! Layout rules (stable; changing them is a hard fork):
//! - A struct is a MessagePack **array** of its fields in declaration order (no field names).
//! - Integers use the smallest MessagePack integer form (`rmp` always does this).
//! - `Address`, `Hash` and `U256` are `bin` of exactly 20, 32 and 32 bytes (big-endian).
//! - Byte strings are `bin`; sequences are arrays; `Option` is `nil` or the value.
//!
//! Decoding is strict: the input must be exactly one value with no trailing bytes, and
//! [`decode_canonical`] also requires the bytes to be the canonical encoding of what they
//! decode to, so one value has exactly one encoding (and one hash).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input is larger than the limit for this kind of value.
    #[error("input of {got} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Bytes received.
        got: usize,
        /// Largest accepted size.
        limit: usize,
    },
    /// The bytes are not valid MessagePack for the expected shape.
    #[error("malformed MessagePack: {0}")]
    Malformed(String),
    /// A value decoded, but bytes were left after it.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    /// The value decoded but is not in canonical form (re-encoding gives different bytes).
    #[error("the encoding is not canonical")]
    NotCanonical,
}

/// Result alias for decoding.
pub type CodecResult<T> = Result<T, CodecError>;

/// Encodes `value` in the canonical layout.
///
/// Serialization of the crate's own types cannot fail (no maps with non-string keys, no
/// unsupported types), so a failure here is a bug and asserts.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut bytes = Vec::new();
    write(&mut bytes, value);
    bytes
}

/// Encodes `value` like [`encode`] into a buffer of exactly its size, for large values (a
/// full block's proposal): it serializes twice, once to count the bytes.
///
/// [`encode`] grows its buffer by doubling, so a 2 MB encoding passes through buffers of
/// 1 MB, 512 KB and so on, and ends with up to twice the room it needs. In a Worker's wasm
/// memory, which never shrinks, each of those large blocks needs a free run of its own
/// while the heap is full of small objects: encoding a full block's proposal grew the
/// `Sequencer`'s memory by 8.7 MiB on workerd. One exact buffer needs one run.
pub fn encode_exact<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut counter = ByteCounter(0);
    write(&mut counter, value);
    let mut bytes = Vec::with_capacity(counter.0);
    write(&mut bytes, value);
    debug_assert_eq!(
        bytes.len(),
        bytes.capacity(),
        "the count is the encoding's size"
    );
    bytes
}

/// Serializes `value` into `sink` in the canonical layout.
fn write<T: Serialize + ?Sized>(sink: &mut impl std::io::Write, value: &T) {
    if let Err(error) = rmp_serde::encode::write(sink, value) {
        unreachable!("canonical encoding of a ledger type failed: {error}");
    }
}

/// A writer that only counts the bytes written to it.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decodes exactly one value from `bytes`, refusing inputs over `limit` bytes and trailing bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> CodecResult<T> {
    if bytes.len() > limit {
        return Err(CodecError::TooLarge {
            got: bytes.len(),
            limit,
        });
    }
    let mut remaining = bytes;
    let value = rmp_serde::from_read(&mut remaining)
        .map_err(|error| CodecError::Malformed(error.to_string()))?;
    if !remaining.is_empty() {
        return Err(CodecError::TrailingBytes(remaining.len()));
    }
    Ok(value)
}

/// Like [`decode`], and also requires `bytes` to be the canonical encoding of the value.
///
/// Use it for anything whose bytes are hashed or signed (headers, votes), so that no two
/// encodings of one value can exist.
pub fn decode_canonical<T: DeserializeOwned + Serialize>(
    bytes: &[u8],
    limit: usize,
) -> CodecResult<T> {
    let value: T = decode(bytes, limit)?;
    if encode(&value) != bytes {
        return Err(CodecError::NotCanonical);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Pair {
        small: u64,
        text: String,
    }

    #[test]
    fn structs_are_arrays_and_round_trip() {
        let value = Pair {
            small: 5,
            text: "a".into(),
        };
        let bytes = encode(&value);
        assert_eq!(bytes, [0x92, 0x05, 0xa1, b'a']);
        assert_eq!(decode::<Pair>(&bytes, 64), Ok(value));
    }

    #[test]
    fn the_exact_encoding_is_the_encoding_in_a_buffer_of_its_size() {
        let values = [
            Pair {
                small: 0,
                text: String::new(),
            },
            Pair {
                small: u64::MAX,
                text: "x".repeat(70_000),
            },
        ];
        for value in &values {
            let exact = encode_exact(value);
            assert_eq!(exact, encode(value));
            assert_eq!(exact.capacity(), exact.len());
        }
    }

    #[test]
    fn trailing_bytes_and_oversize_are_refused() {
        let mut bytes = encode(&Pair {
            small: 1,
            text: String::new(),
        });
        bytes.push(0);
        assert_eq!(
            decode::<Pair>(&bytes, 64),
            Err(CodecError::TrailingBytes(1))
        );
        assert!(matches!(
            decode::<Pair>(&bytes, 2),
            Err(CodecError::TooLarge { got: 4, limit: 2 })
        ));
    }

    #[test]
    fn non_minimal_integer_is_not_canonical() {
        // 5 encoded as uint64 (0xcf) instead of a positive fixint.
        let bytes = [0x92, 0xcf, 0, 0, 0, 0, 0, 0, 0, 5, 0xa0];
        assert!(decode::<Pair>(&bytes, 64).is_ok());
        assert_eq!(
            decode_canonical::<Pair>(&bytes, 64),
            Err(CodecError::NotCanonical)
        );
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        assert!(matches!(
            decode::<Pair>(&[0xc1, 0xff], 64),
            Err(CodecError::Malformed(_))
        ));
        assert!(matches!(
            decode::<Pair>(&[], 64),
            Err(CodecError::Malformed(_))
        ));
    }
}
