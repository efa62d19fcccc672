//! secp256k1 signatures as Ethereum uses them: recoverable, low-s, over 32-byte prehashes.
//!
//! Transactions and validator votes both sign keccak256 digests. Recovery derives the signer
//! from the signature alone (the front door's job); verification against a known public key
//! is cheaper and is what validators do with the public keys the proposal carries.

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::primitives::{Address, Hash, keccak256};

/// Why a signature or key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// `r` or `s` is zero or not below the curve order.
    #[error("signature scalar out of range")]
    ScalarOutOfRange,
    /// `s` is in the upper half of the curve order (malleable form, refused as in Ethereum).
    #[error("signature s value is in the upper half of the curve order")]
    HighS,
    /// The recovery id (y parity) is not 0 or 1.
    #[error("invalid recovery id {0}")]
    RecoveryId(u64),
    /// No public key could be recovered from the signature.
    #[error("no public key recovers from the signature")]
    Unrecoverable,
    /// The signature does not verify for the given key and digest.
    #[error("signature does not verify")]
    Invalid,
    /// Bytes are not a valid public or secret key.
    #[error("invalid key")]
    InvalidKey,
}

/// Result alias for signature operations.
pub type SignatureResult<T> = Result<T, SignatureError>;

/// A recoverable ECDSA signature: `r`, `s` (big-endian) and the y parity of the nonce point.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RecoverableSignature {
    /// The `r` scalar, big-endian.
    pub r: Hash,
    /// The `s` scalar, big-endian; must be in the lower half of the order.
    pub s: Hash,
    /// Parity of the y coordinate of the nonce point (the recovery id).
    pub y_parity: bool,
}

impl RecoverableSignature {
    /// Converts to `k256` form, refusing out-of-range scalars and high `s`.
    fn to_k256(self) -> SignatureResult<(Signature, RecoveryId)> {
        let signature = Signature::from_scalars(self.r.0, self.s.0)
            .map_err(|_| SignatureError::ScalarOutOfRange)?;
        if signature.normalize_s() != signature {
            return Err(SignatureError::HighS);
        }
        Ok((signature, RecoveryId::new(self.y_parity, false)))
    }

    /// Recovers the signer's public key from `prehash`.
    pub fn recover(&self, prehash: &Hash) -> SignatureResult<PublicKey> {
        let (signature, recovery_id) = self.to_k256()?;
        VerifyingKey::recover_from_prehash(&prehash.0, &signature, recovery_id)
            .map(PublicKey)
            .map_err(|_| SignatureError::Unrecoverable)
    }

    /// Verifies against a known public key (faster than recovery).
    ///
    /// The y parity is not needed for verification and is not checked here; callers that
    /// care that the stored parity is right (so re-encoding reproduces the transaction) rely on
    /// the front door's recovery having produced this key with this parity.
    pub fn verify(&self, prehash: &Hash, public_key: &PublicKey) -> SignatureResult<()> {
        use k256::ecdsa::signature::hazmat::PrehashVerifier;
        let (signature, _) = self.to_k256()?;
        public_key
            .0
            .verify_prehash(&prehash.0, &signature)
            .map_err(|_| SignatureError::Invalid)
    }

    /// Verifies against a known public key and also checks the y parity, so that `public_key`
    /// is exactly the key [`Self::recover`] would return.
    ///
    /// Costs about what [`Self::verify`] does: the nonce point verification computes anyway is
    /// checked in full (x equal to `r`, y of the stated parity) instead of only its x modulo
    /// the order. Without this, flipping the parity of a valid signature would give a second
    /// transaction (another hash, another ecrecover sender) that still verifies for the key.
    pub fn verify_exact(&self, prehash: &Hash, public_key: &PublicKey) -> SignatureResult<()> {
        use k256::elliptic_curve::ops::{MulByGeneratorVartime, Reduce};
        use k256::elliptic_curve::point::AffineCoordinates;
        use k256::{FieldBytes, ProjectivePoint, Scalar};
        let (signature, _) = self.to_k256()?;
        let (r, s) = signature.split_scalars();
        let digest = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(prehash.0));
        let s_inverse =
            Option::<Scalar>::from(s.invert_vartime()).ok_or(SignatureError::Invalid)?;
        let nonce_point = ProjectivePoint::mul_by_generator_and_mul_add_vartime(
            &(digest * s_inverse),
            &(*r * s_inverse),
            &ProjectivePoint::from(*public_key.0.as_affine()),
        )
        .to_affine();
        let x_matches = nonce_point.x() == FieldBytes::from(self.r.0);
        let parity_matches = bool::from(nonce_point.y_is_odd()) == self.y_parity;
        if x_matches && parity_matches {
            Ok(())
        } else {
            Err(SignatureError::Invalid)
        }
    }

    /// The 65-byte `r ‖ s ‖ v` form with `v` = 27 + parity, as wallets print signatures.
    pub fn to_bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[..32].copy_from_slice(&self.r.0);
        out[32..64].copy_from_slice(&self.s.0);
        out[64] = 27 + u8::from(self.y_parity);
        out
    }
}

/// An uncompressed secp256k1 public key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses the 64-byte `x ‖ y` form (uncompressed SEC1 without the `0x04` tag).
    pub fn from_xy(bytes: &[u8; 64]) -> SignatureResult<Self> {
        let mut sec1 = [0u8; 65];
        sec1[0] = 0x04;
        sec1[1..].copy_from_slice(bytes);
        VerifyingKey::from_sec1_bytes(&sec1)
            .map(Self)
            .map_err(|_| SignatureError::InvalidKey)
    }

    /// The 64-byte `x ‖ y` form.
    pub fn to_xy(&self) -> [u8; 64] {
        let point = self.0.to_sec1_point(false);
        let mut out = [0u8; 64];
        out.copy_from_slice(&point.as_bytes()[1..]);
        out
    }

    /// The Ethereum address of this key: the last 20 bytes of keccak256(x ‖ y).
    pub fn address(&self) -> Address {
        let digest = keccak256(self.to_xy());
        let mut address = [0u8; 20];
        address.copy_from_slice(&digest.0[12..]);
        Address(address)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(&crate::primitives::to_hex(self.to_xy()))
        } else {
            serializer.serialize_bytes(&self.to_xy())
        }
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let bytes: [u8; 64] = if deserializer.is_human_readable() {
            let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
            crate::primitives::parse_hex_array::<64>(&text).map_err(D::Error::custom)?
        } else {
            serde_bytes::ByteArray::<64>::deserialize(deserializer)?.into_array()
        };
        Self::from_xy(&bytes).map_err(D::Error::custom)
    }
}

/// A secp256k1 secret key, for signing votes (validators) and transfers (tools, tests).
///
/// Deliberately not `Serialize` or `Debug`: secrets leave the process only on purpose.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// Parses 32 big-endian bytes; zero and values not below the order are refused.
    pub fn from_bytes(bytes: &[u8; 32]) -> SignatureResult<Self> {
        SigningKey::from_slice(bytes)
            .map(Self)
            .map_err(|_| SignatureError::InvalidKey)
    }

    /// The 32 secret bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes().into()
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(*self.0.verifying_key())
    }

    /// The matching Ethereum address.
    pub fn address(&self) -> Address {
        self.public_key().address()
    }

    /// Signs a 32-byte digest deterministically (RFC 6979, no randomness), low-s.
    pub fn sign(&self, prehash: &Hash) -> RecoverableSignature {
        let (signature, recovery_id) = self.0.sign_prehash_recoverable(&prehash.0);
        let (r, s) = signature.split_bytes();
        let signature = RecoverableSignature {
            r: Hash(r.into()),
            s: Hash(s.into()),
            y_parity: recovery_id.is_y_odd(),
        };
        debug_assert!(
            signature.to_k256().is_ok(),
            "k256 produced a high-s signature"
        );
        signature
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// First account of the development mnemonic `test test … junk`, used by every local
    /// Ethereum node.
    const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    const DEV_ADDRESS: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";

    fn dev_key() -> SecretKey {
        let bytes = crate::primitives::parse_hex_array::<32>(DEV_KEY).expect("hex");
        SecretKey::from_bytes(&bytes).expect("valid key")
    }

    #[test]
    fn address_of_known_key_matches_ethereum() {
        assert_eq!(dev_key().address().to_string(), DEV_ADDRESS);
    }

    #[test]
    fn sign_recover_verify_round_trip() {
        let key = dev_key();
        let digest = keccak256(b"edgeledger");
        let signature = key.sign(&digest);
        let recovered = signature.recover(&digest).expect("recovers");
        assert_eq!(recovered, key.public_key());
        assert_eq!(signature.verify(&digest, &key.public_key()), Ok(()));
        let other = keccak256(b"other");
        assert_eq!(
            signature.verify(&other, &key.public_key()),
            Err(SignatureError::Invalid)
        );
        assert_ne!(signature.recover(&other).ok(), Some(key.public_key()));
    }

    #[test]
    fn high_s_and_zero_scalars_are_refused() {
        let key = dev_key();
        let digest = keccak256(b"edgeledger");
        let signature = key.sign(&digest);
        // n - s flips s into the upper half; with the flipped parity it is the same signature
        // in malleable form.
        let order = crate::primitives::U256::from_be_bytes(
            parse_order().expect("order constant is valid hex"),
        );
        let high_s = order - crate::primitives::U256::from_be_bytes(signature.s.0);
        let malleated = RecoverableSignature {
            s: Hash(high_s.to_be_bytes()),
            y_parity: !signature.y_parity,
            ..signature
        };
        assert_eq!(malleated.recover(&digest), Err(SignatureError::HighS));
        let zero = RecoverableSignature {
            r: Hash::ZERO,
            ..signature
        };
        assert_eq!(zero.recover(&digest), Err(SignatureError::ScalarOutOfRange));
    }

    fn parse_order() -> Result<[u8; 32], crate::primitives::HexError> {
        crate::primitives::parse_hex_array(
            "0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        )
    }

    #[test]
    fn public_key_serde_round_trip() {
        let public_key = dev_key().public_key();
        let packed = rmp_serde::to_vec(&public_key).expect("msgpack");
        assert_eq!(
            rmp_serde::from_slice::<PublicKey>(&packed).expect("decode"),
            public_key
        );
        assert!(PublicKey::from_xy(&[0u8; 64]).is_err());
    }
}
