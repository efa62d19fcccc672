//! Fixed-size values every part of the chain shares: addresses, 32-byte hashes, `U256`, keccak256.
//!
//! `Address` and `Hash` serialize as raw bytes in binary formats (MessagePack `bin`) and as
//! `0x`-prefixed lowercase hex in human-readable ones (JSON), so one type serves the canonical
//! encoding and the public API alike.

use std::fmt;
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tiny_keccak::Hasher as _;

/// 256-bit unsigned integer for balances and values, as in Ethereum.
pub type U256 = ruint::aliases::U256;

/// keccak256 of `bytes`: the hash of everything consensus-visible.
pub fn keccak256(bytes: impl AsRef<[u8]>) -> Hash {
    keccak256_concat(&[bytes.as_ref()])
}

/// keccak256 over several byte strings, as if they were concatenated, without copying them.
pub fn keccak256_concat(parts: &[&[u8]]) -> Hash {
    let mut hasher = Keccak256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize()
}

/// keccak256 fed piece by piece.
#[derive(Clone)]
pub struct Keccak256(tiny_keccak::Keccak);

impl Keccak256 {
    /// A hasher that has absorbed nothing.
    pub fn new() -> Self {
        Self(tiny_keccak::Keccak::v256())
    }

    /// Absorbs `bytes`.
    pub fn update(&mut self, bytes: impl AsRef<[u8]>) {
        self.0.update(bytes.as_ref());
    }

    /// The hash of everything absorbed.
    pub fn finalize(self) -> Hash {
        let mut digest = [0u8; 32];
        self.0.finalize(&mut digest);
        Hash(digest)
    }
}

impl Default for Keccak256 {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a hex string could not be parsed into a fixed-size value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The string did not start with `0x`.
    #[error("expected a 0x-prefixed hex string")]
    MissingPrefix,
    /// The string had the wrong number of hex digits.
    #[error("expected {expected} hex digits, got {got}")]
    Length {
        /// Hex digits the value needs.
        expected: usize,
        /// Hex digits found.
        got: usize,
    },
    /// A character was not a hex digit.
    #[error("invalid hex digit")]
    Digit,
}

/// Parses `0x` followed by exactly `2 * N` hex digits (either case).
pub fn parse_hex_array<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .ok_or(HexError::MissingPrefix)?;
    if digits.len() != 2 * N {
        return Err(HexError::Length {
            expected: 2 * N,
            got: digits.len(),
        });
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(digits, &mut out).map_err(|_| HexError::Digit)?;
    Ok(out)
}

/// Parses `0x`-prefixed hex of any even length into bytes.
pub fn parse_hex_bytes(text: &str) -> Result<Vec<u8>, HexError> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .ok_or(HexError::MissingPrefix)?;
    hex::decode(digits).map_err(|_| HexError::Digit)
}

/// Formats bytes as `0x`-prefixed lowercase hex.
pub fn to_hex(bytes: impl AsRef<[u8]>) -> String {
    format!("0x{}", hex::encode(bytes.as_ref()))
}

macro_rules! fixed_bytes {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;
            /// All zero bytes.
            pub const ZERO: Self = Self([0u8; $len]);

            /// The bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Copies from a slice of exactly the right length.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                bytes.try_into().ok().map(Self)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }

        impl fmt::Display for $name {
            /// `0x` and lowercase hex, written at once: a `{:02x}` a byte went through the
            /// formatting machinery 32 times a hash, a measurable part of a batch's answer
            /// in wasm (it carries a hash a transaction).
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut text = [0u8; 2 + 2 * $len];
                text[..2].copy_from_slice(b"0x");
                hex::encode_to_slice(self.0, &mut text[2..]).map_err(|_| fmt::Error)?;
                formatter.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, formatter)
            }
        }

        impl FromStr for $name {
            type Err = HexError;
            fn from_str(text: &str) -> Result<Self, HexError> {
                parse_hex_array::<$len>(text).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.collect_str(self)
                } else {
                    serializer.serialize_bytes(&self.0)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                    text.parse().map_err(D::Error::custom)
                } else {
                    let bytes: serde_bytes::ByteArray<$len> =
                        serde_bytes::ByteArray::deserialize(deserializer)?;
                    Ok(Self(bytes.into_array()))
                }
            }
        }
    };
}

fixed_bytes!(
    /// A 20-byte Ethereum account address: the last 20 bytes of keccak256 of the public key.
    Address,
    20
);

fixed_bytes!(
    /// A 32-byte keccak256 digest: block, transaction and trie node hashes, state roots.
    Hash,
    32
);

fixed_bytes!(
    /// The y coordinate (big-endian) of an ECDSA signature's nonce point `R`, whose x is the
    /// signature's `r`. The front door works it out once
    /// ([`crate::signature::RecoverableSignature::nonce_y`]) and the transaction carries it,
    /// so every validator checks the curve equation instead of taking a square root.
    NonceY,
    32
);

impl Address {
    /// The bit at `index` (0 = most significant bit of the first byte): the trie path of this key.
    pub const fn bit(&self, index: usize) -> bool {
        (self.0[index / 8] >> (7 - (index % 8))) & 1 == 1
    }
}

/// Serde for a `U256` as exactly 32 big-endian bytes (`bin` in MessagePack, hex in JSON).
///
/// Used with `#[serde(with = "crate::primitives::u256_bytes")]` so the canonical encodings have a
/// fixed-width, documented representation independent of `ruint`'s own serde choices.
pub mod u256_bytes {
    use super::{Hash, U256};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Serializes as 32 big-endian bytes.
    pub fn serialize<S: Serializer>(value: &U256, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(&format_args!("{value:#x}"))
        } else {
            Hash(value.to_be_bytes::<32>()).serialize(serializer)
        }
    }

    /// Deserializes from 32 big-endian bytes (or a hex/decimal string in human-readable formats).
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<U256, D::Error> {
        if deserializer.is_human_readable() {
            let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
            text.parse::<U256>().map_err(serde::de::Error::custom)
        } else {
            Ok(U256::from_be_bytes(Hash::deserialize(deserializer)?.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_of_empty_input_matches_ethereum() {
        assert_eq!(
            keccak256([]).to_string(),
            "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn keccak_concat_equals_keccak_of_concatenation() {
        assert_eq!(keccak256_concat(&[b"ab", b"", b"c"]), keccak256(b"abc"));
    }

    #[test]
    fn address_hex_round_trip_and_errors() {
        let text = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
        let address: Address = text.parse().expect("valid address");
        assert_eq!(address.to_string(), text);
        assert_eq!("f39f".parse::<Address>(), Err(HexError::MissingPrefix));
        assert!(matches!(
            "0x12".parse::<Address>(),
            Err(HexError::Length {
                expected: 40,
                got: 2
            })
        ));
        assert_eq!(
            format!("0x{}", "zz".repeat(20)).parse::<Address>(),
            Err(HexError::Digit)
        );
    }

    #[test]
    fn address_bits_are_most_significant_first() {
        let mut bytes = [0u8; 20];
        bytes[0] = 0b1000_0001;
        let address = Address(bytes);
        assert!(address.bit(0));
        assert!(!address.bit(1));
        assert!(address.bit(7));
        assert!(!address.bit(8));
    }

    #[test]
    fn serde_is_hex_in_json_and_bin_in_msgpack() {
        let hash = keccak256(b"x");
        let json = serde_json::to_string(&hash).expect("json");
        assert_eq!(json, format!("\"{hash}\""));
        assert_eq!(serde_json::from_str::<Hash>(&json).expect("parse"), hash);
        let packed = rmp_serde::to_vec(&hash).expect("msgpack");
        assert_eq!(packed[0], 0xc4, "bin8 marker");
        assert_eq!(packed.len(), 2 + 32);
        assert_eq!(
            rmp_serde::from_slice::<Hash>(&packed).expect("decode"),
            hash
        );
    }

    #[test]
    fn u256_bytes_round_trip() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Holder(#[serde(with = "u256_bytes")] U256);
        let value = Holder(U256::from(1_000_000_007u64) << 100);
        let packed = rmp_serde::to_vec(&value).expect("msgpack");
        assert_eq!(
            rmp_serde::from_slice::<Holder>(&packed).expect("decode"),
            value
        );
        let json = serde_json::to_string(&value).expect("json");
        assert_eq!(
            serde_json::from_str::<Holder>(&json).expect("json decode"),
            value
        );
    }
}
