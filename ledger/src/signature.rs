//! secp256k1 signatures as Ethereum uses them: recoverable, low-s, over 32-byte prehashes.
//!
//! Transactions and validator votes both sign keccak256 digests. Recovery derives the signer
//! from the signature alone (the front door's job); verification against a known public key
//! is cheaper and is what validators do with the public keys the proposal carries.

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::primitives::{Address, Hash, NonceY, keccak256};

mod buckets;
mod glv;

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
    ///
    /// The checks (scalar range, low `s`) are k256's, as everywhere else; the recovery itself
    /// is libsecp256k1's, which in wasm takes about half k256's time. Both compute the one key
    /// with `s·R = z·G + r·Q` for the nonce point `R` the signature names, so they accept and
    /// refuse the same signatures (a property test holds them to it).
    pub fn recover(&self, prehash: &Hash) -> SignatureResult<PublicKey> {
        use secp256k1::ecdsa::{RecoverableSignature as LibsecpSignature, RecoveryId};
        self.to_k256()?;
        let recovery_id = RecoveryId::from_u8_masked(u8::from(self.y_parity));
        let signature = LibsecpSignature::from_compact(&self.compact(), recovery_id)
            .map_err(|_| SignatureError::ScalarOutOfRange)?;
        let key = signature
            .recover_ecdsa(secp256k1::Message::from_digest(prehash.0))
            .map_err(|_| SignatureError::Unrecoverable)?;
        PublicKey::parse(&key.serialize_uncompressed())
    }

    /// Verifies against a known public key (faster than recovery): validators' votes.
    ///
    /// The y parity is not needed for verification and is not checked here; callers that
    /// care that the stored parity is right (so re-encoding reproduces the transaction) rely on
    /// the front door's recovery having produced this key with this parity.
    ///
    /// The checks (scalar range, low `s`) are k256's, as everywhere else; the verification is
    /// libsecp256k1's, 63 µs in wasm where k256's takes 122 (each vote, and each certificate's
    /// votes, is checked once per block by the `Sequencer` and every validator). Both accept
    /// exactly the valid signatures (a property test holds them to it).
    pub fn verify(&self, prehash: &Hash, public_key: &PublicKey) -> SignatureResult<()> {
        self.to_k256()?;
        let signature = secp256k1::ecdsa::Signature::from_compact(&self.compact())
            .map_err(|_| SignatureError::ScalarOutOfRange)?;
        signature
            .verify(
                secp256k1::Message::from_digest(prehash.0),
                &public_key.to_libsecp()?,
            )
            .map_err(|_| SignatureError::Invalid)
    }

    /// `r ‖ s`, libsecp256k1's compact form.
    fn compact(&self) -> [u8; 64] {
        let mut compact = [0u8; 64];
        compact[..32].copy_from_slice(&self.r.0);
        compact[32..].copy_from_slice(&self.s.0);
        compact
    }

    /// Verifies against a known public key and also checks the y parity, so that `public_key`
    /// is exactly the key [`Self::recover`] would return.
    ///
    /// The nonce point the verification equation gives is checked in full (x equal to `r`, y
    /// of the stated parity) instead of only its x modulo the order. Without this, flipping the
    /// parity of a valid signature would give a second transaction (another hash, another
    /// ecrecover sender) that still verifies for the key. Returns that point's y, the
    /// signature's [`Self::nonce_y`].
    ///
    /// It is done as recovery compared with the key: `s·R = z·G + r·Q` holds for the nonce
    /// point `R` the signature names exactly when recovery, which solves it for `Q`, gives this
    /// key. libsecp256k1's recovery and square root take about 75 µs in wasm, where k256's
    /// double multiplication took 109 (a property test holds the two ways to the same
    /// answers). Batches are checked together instead ([`verify_exact_batch`]); this is the
    /// path of a batch of one and of the one-by-one checks after a batch fails.
    pub fn verify_exact(&self, prehash: &Hash, public_key: &PublicKey) -> SignatureResult<NonceY> {
        let recovered = self.recover(prehash).map_err(|error| match error {
            // No point has x `r`: no key's equation holds, as for any other wrong signature.
            SignatureError::Unrecoverable => SignatureError::Invalid,
            other => other,
        })?;
        if recovered != *public_key {
            return Err(SignatureError::Invalid);
        }
        self.nonce_y().map_err(|_| SignatureError::Invalid)
    }

    /// [`Self::verify_exact`] with k256's double multiplication, as it was done before: the
    /// reference the property test holds it to.
    #[cfg(all(test, not(target_arch = "wasm32")))]
    fn verify_exact_k256(&self, prehash: &Hash, public_key: &PublicKey) -> SignatureResult<NonceY> {
        use k256::elliptic_curve::ops::MulByGeneratorVartime;
        use k256::elliptic_curve::point::AffineCoordinates;
        use k256::{FieldBytes, ProjectivePoint, Scalar};
        let (signature, _) = self.to_k256()?;
        let (r, s) = signature.split_scalars();
        let digest = reduced_scalar(&prehash.0);
        let s_inverse =
            Option::<Scalar>::from(s.invert_vartime()).ok_or(SignatureError::Invalid)?;
        let nonce_point = ProjectivePoint::mul_by_generator_and_mul_add_vartime(
            &(digest * s_inverse),
            &(*r * s_inverse),
            &public_key.to_projective()?,
        )
        .to_affine();
        let x_matches = nonce_point.x() == FieldBytes::from(self.r.0);
        let parity_matches = bool::from(nonce_point.y_is_odd()) == self.y_parity;
        if x_matches && parity_matches {
            Ok(NonceY(nonce_point.y().into()))
        } else {
            Err(SignatureError::Invalid)
        }
    }

    /// The y coordinate of the nonce point `R` this signature names (`x = r`, y of the stated
    /// parity): the front door works it out after recovering the sender, and the transaction
    /// carries it to the validators (see [`ExactCheck::nonce_y`]).
    ///
    /// A square root: libsecp256k1's, about 7 µs in wasm where k256's takes 8.5. Every
    /// validator would otherwise take it itself, a third of its batch check a signature.
    pub fn nonce_y(&self) -> SignatureResult<NonceY> {
        let mut compressed = [0u8; 33];
        compressed[0] = 0x02 | u8::from(self.y_parity);
        compressed[1..].copy_from_slice(&self.r.0);
        let point = secp256k1::PublicKey::from_slice(&compressed)
            .map_err(|_| SignatureError::Unrecoverable)?;
        // Uncompressed: 0x04 ‖ x ‖ y.
        let mut y = [0u8; 32];
        y.copy_from_slice(&point.serialize_uncompressed()[33..]);
        Ok(NonceY(y))
    }

    /// The nonce point `R` this signature names: `x = r`, y of the stated parity. `None` when
    /// no curve point has that x, or when `carried_y` is not that point's y.
    ///
    /// With `carried_y` this checks the curve equation `y² = x³ + 7` and the parity (a few
    /// field multiplications) instead of taking the square root. The two y of an x differ in
    /// parity, so a y that passes both checks is the one the square root would give.
    fn nonce_point(&self, carried_y: Option<&NonceY>) -> Option<k256::AffinePoint> {
        use k256::elliptic_curve::point::{AffineCoordinates, DecompressPoint};
        use k256::elliptic_curve::subtle::Choice;
        let x = k256::FieldBytes::from(self.r.0);
        let Some(y) = carried_y else {
            let y_is_odd = Choice::from(u8::from(self.y_parity));
            return k256::AffinePoint::decompress(&x, y_is_odd).into();
        };
        let point: k256::AffinePoint = Option::from(k256::AffinePoint::from_coordinates(
            &x,
            &k256::FieldBytes::from(y.0),
        ))?;
        (bool::from(point.y_is_odd()) == self.y_parity).then_some(point)
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

/// An uncompressed secp256k1 public key: a point of the curve, checked when made.
///
/// It is kept as its 64-byte `x ‖ y` form, and the point is read from those bytes again
/// where curve arithmetic needs it (once a distinct key in a batch check). Every hop of a
/// transaction writes the key out (the `Sequencer`'s pending rows and proposals, the
/// address, the batch check's transcript), and turning k256's field elements back into
/// bytes each time cost the `Sequencer` 2.5% of its CPU in a burst's profile; the bytes are
/// also smaller than k256's point (64 bytes against 88), which a full mempool holds 32,768 of.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PublicKey {
    xy: [u8; 64],
}

impl PublicKey {
    /// Parses the 64-byte `x ‖ y` form (uncompressed SEC1 without the `0x04` tag).
    pub fn from_xy(bytes: &[u8; 64]) -> SignatureResult<Self> {
        Self::point_of(bytes).map(|_| Self { xy: *bytes })
    }

    fn from_point(point: VerifyingKey) -> Self {
        let mut xy = [0u8; 64];
        xy.copy_from_slice(&point.to_sec1_point(false).as_bytes()[1..]);
        Self { xy }
    }

    /// The point `xy` names, if it is one.
    fn point_of(xy: &[u8; 64]) -> SignatureResult<VerifyingKey> {
        let mut sec1 = [0u8; 65];
        sec1[0] = 0x04;
        sec1[1..].copy_from_slice(xy);
        VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| SignatureError::InvalidKey)
    }

    /// The longest form [`PublicKey::parse`] takes: SEC1 uncompressed.
    pub const PARSED_BYTES_MAX: usize = 65;

    /// Parses a public key in the forms clients give: 64 bytes `x ‖ y` (as this chain carries
    /// keys), or SEC1, 65 bytes uncompressed (`0x04 ‖ x ‖ y`, what Ethereum libraries print as
    /// a public key) or 33 compressed. Anything else, or bytes that are not a point of the
    /// curve, is [`SignatureError::InvalidKey`].
    pub fn parse(bytes: &[u8]) -> SignatureResult<Self> {
        if let Ok(xy) = <&[u8; 64]>::try_from(bytes) {
            return Self::from_xy(xy);
        }
        if !matches!(bytes.len(), 33 | Self::PARSED_BYTES_MAX) {
            return Err(SignatureError::InvalidKey);
        }
        VerifyingKey::from_sec1_bytes(bytes)
            .map(Self::from_point)
            .map_err(|_| SignatureError::InvalidKey)
    }

    /// The 64-byte `x ‖ y` form.
    pub fn to_xy(&self) -> [u8; 64] {
        self.xy
    }

    /// The 64-byte `x ‖ y` form, borrowed.
    pub fn as_xy(&self) -> &[u8; 64] {
        &self.xy
    }

    /// The point, for k256's arithmetic. Its bytes were a point when the key was made, so
    /// this does not fail; it is still not assumed.
    fn to_projective(self) -> SignatureResult<k256::ProjectivePoint> {
        Self::point_of(&self.xy).map(|point| k256::ProjectivePoint::from(*point.as_affine()))
    }

    /// The same key in libsecp256k1's form, for the checks it does faster than k256.
    fn to_libsecp(self) -> SignatureResult<secp256k1::PublicKey> {
        let mut sec1 = [0u8; 65];
        sec1[0] = 0x04;
        sec1[1..].copy_from_slice(&self.xy);
        secp256k1::PublicKey::from_slice(&sec1).map_err(|_| SignatureError::InvalidKey)
    }

    /// The Ethereum address of this key: the last 20 bytes of keccak256(x ‖ y).
    pub fn address(&self) -> Address {
        let digest = keccak256(self.xy);
        let mut address = [0u8; 20];
        address.copy_from_slice(&digest.0[12..]);
        Address(address)
    }
}

/// The keys a batch names, remembered with their addresses: a busy batch names few senders
/// many times (`ops bench` signs round-robin from 20), and each naming cost a check that the
/// key's bytes are a point of the curve and a keccak256 for its address.
///
/// It keeps the last key seen in each of 64 slots, picked by the key's last byte, and reuses
/// one only when all 64 bytes match: keys that share a slot, by chance or on purpose, only
/// take turns. One lives for one batch.
pub struct KnownKeys {
    slots: Vec<Option<(PublicKey, Address)>>,
}

impl KnownKeys {
    const SLOTS: usize = 64;

    /// None known yet.
    pub fn new() -> Self {
        Self {
            slots: vec![None; Self::SLOTS],
        }
    }

    /// The address of `key` ([`PublicKey::address`]).
    pub fn address(&mut self, key: &PublicKey) -> Address {
        if let Some((_, address)) = self.known(&key.xy) {
            return address;
        }
        let address = key.address();
        self.slots[Self::slot_of(&key.xy)] = Some((*key, address));
        address
    }

    /// [`PublicKey::parse`] with the key's address; a key in the 64-byte form seen before is
    /// not checked again.
    pub fn parse(&mut self, bytes: &[u8]) -> SignatureResult<(PublicKey, Address)> {
        if let Some(known) = <&[u8; 64]>::try_from(bytes)
            .ok()
            .and_then(|xy| self.known(xy))
        {
            return Ok(known);
        }
        let key = PublicKey::parse(bytes)?;
        Ok((key, self.address(&key)))
    }

    /// The key with exactly these bytes and its address, if its slot holds it.
    fn known(&self, xy: &[u8; 64]) -> Option<(PublicKey, Address)> {
        self.slots[Self::slot_of(xy)].filter(|(known, _)| known.xy == *xy)
    }

    fn slot_of(xy: &[u8; 64]) -> usize {
        usize::from(xy[63]) % Self::SLOTS
    }
}

impl Default for KnownKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(&crate::primitives::to_hex(self.xy))
        } else {
            serializer.serialize_bytes(&self.xy)
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
        PublicKey::from_point(*self.0.verifying_key())
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

/// One signature of a batch: what [`RecoverableSignature::verify_exact`] takes.
#[derive(Debug, Clone, Copy)]
pub struct ExactCheck<'a> {
    /// The signed digest.
    pub prehash: &'a Hash,
    /// The signature.
    pub signature: &'a RecoverableSignature,
    /// The key it must verify against.
    pub public_key: &'a PublicKey,
    /// The y coordinate of the signature's nonce point, if the transaction carries it
    /// ([`RecoverableSignature::nonce_y`]); the check then needs no square root. A wrong one
    /// fails the batch, exactly as a wrong signature would.
    pub nonce_y: Option<&'a NonceY>,
}

/// Whether every signature of `batch` verifies exactly ([`RecoverableSignature::verify_exact`]
/// accepts each), checked together at a fraction of the cost of checking them one by one,
/// less when keys repeat. `false` says only that at least one does not: check them one by one
/// to learn which.
///
/// Exact verification of one signature is the point equation `u1·G + u2·Q = R`, with
/// `u1 = z/s`, `u2 = r/s` and `R` the nonce point of x `r` and the stated y parity (the same
/// point in full, not only its x modulo the order, is what makes it exact). The batch checks
/// one random combination of them, `(Σ aᵢu1ᵢ)·G + Σ (Σ aᵢu2ᵢ)·Q + Σ aᵢ·(−Rᵢ) = O`, in which
/// `G` appears once and each distinct key once. The inverses `1/sᵢ` cost one inversion modulo
/// the order for the whole batch (batch inversion), and each nonce point is multiplied only by
/// its short coefficient `aᵢ`. The keys' and the generator's terms have full-length scalars;
/// the curve's endomorphism splits each into two terms of 128 bits (the private module
/// `glv`). So the whole combination is one sum of short terms, by the bucket method (the
/// private module `buckets`): an addition a term and window (in affine coordinates, a round
/// of them sharing one field inversion), 17 windows for a batch of 1,000, and a distinct key
/// is two terms. The buckets' points are laid out a group of windows at a time (at most
/// about 1.5 MB of them): checking the largest block, 4,096 signatures from as many senders,
/// peaks at about 6 MiB (`ledger/tests/memory.rs`).
///
/// If some equation fails, the combination is `O` for at most one value of that signature's
/// coefficient, so with 127-bit coefficients derived by hashing the whole batch (chosen after
/// every signature is fixed, and not by the signer), a bad batch passes with probability
/// below 2⁻¹²⁶ per attempt.
pub fn verify_exact_batch(batch: &[ExactCheck<'_>]) -> bool {
    use k256::elliptic_curve::BatchNormalize;
    use k256::elliptic_curve::ff::BatchInvert;
    use k256::elliptic_curve::group::Group;
    use k256::{ProjectivePoint, Scalar};
    use std::collections::BTreeMap;
    use std::collections::btree_map::Entry;

    if let [single] = batch {
        return single
            .signature
            .verify_exact(single.prehash, single.public_key)
            .is_ok_and(|nonce_y| single.nonce_y.is_none_or(|carried| *carried == nonce_y));
    }
    let mut scalars = Vec::with_capacity(batch.len());
    for check in batch {
        let Ok((signature, _)) = check.signature.to_k256() else {
            return false;
        };
        scalars.push(signature.split_scalars());
    }
    // s is never zero (to_k256 refuses it), so every inverse exists.
    let mut s_inverses: Vec<Scalar> = scalars.iter().map(|(_, s)| **s).collect();
    s_inverses.iter_mut().batch_invert();

    let mut coefficients = BatchCoefficients::new(batch);
    let mut generator_scalar = Scalar::ZERO;
    let mut nonce_terms = Vec::with_capacity(batch.len());
    // A BTreeMap, not a hash map: the keys are the senders' (chosen by clients).
    let mut key_terms: BTreeMap<&[u8; 64], (ProjectivePoint, Scalar)> = BTreeMap::new();
    for (check, ((r, _), s_inverse)) in batch.iter().zip(scalars.iter().zip(&s_inverses)) {
        let Some(nonce_point) = check.signature.nonce_point(check.nonce_y) else {
            return false;
        };
        let digest = reduced_scalar(&check.prehash.0);
        let coefficient = coefficients.next_coefficient();
        let weight = Scalar::from(coefficient) * s_inverse;
        generator_scalar += weight * digest;
        // The point is negated rather than the scalar: -aᵢ would be a full-length scalar.
        nonce_terms.push((-nonce_point, coefficient));
        let key_scalar = weight * **r;
        match key_terms.entry(check.public_key.as_xy()) {
            Entry::Occupied(mut term) => term.get_mut().1 += key_scalar,
            Entry::Vacant(term) => {
                let Ok(point) = check.public_key.to_projective() else {
                    return false;
                };
                term.insert((point, key_scalar));
            }
        }
    }
    let mut full_terms: Vec<(ProjectivePoint, Scalar)> = key_terms.into_values().collect();
    full_terms.push((ProjectivePoint::GENERATOR, generator_scalar));
    // What the sum below no longer needs goes before it lays out its buckets.
    drop((scalars, s_inverses));
    // Sized exactly, and the full terms dropped early: a block of distinct senders makes
    // thousands of halves.
    let halves = 2 * full_terms.len();
    let mut half_points = Vec::with_capacity(halves);
    let mut half_scalars = Vec::with_capacity(halves);
    for (point, scalar) in &full_terms {
        let Some(split) = glv::split(point, scalar) else {
            return false;
        };
        for (half_point, half_scalar) in split {
            half_points.push(half_point);
            half_scalars.push(half_scalar);
        }
    }
    drop(full_terms);
    // One field inversion for all of them: the bucket method adds affine points.
    let half_points = ProjectivePoint::batch_normalize_vartime(half_points.as_slice());
    let mut short_terms = nonce_terms;
    short_terms.reserve_exact(halves);
    short_terms.extend(half_points.into_iter().zip(half_scalars));
    buckets::short_linear_combination(short_terms).is_some_and(|sum| bool::from(sum.is_identity()))
}

/// 32 big-endian bytes as a scalar modulo the order (a digest, or a constant below it).
fn reduced_scalar(bytes: &[u8; 32]) -> k256::Scalar {
    use k256::elliptic_curve::ops::Reduce;
    <k256::Scalar as Reduce<k256::FieldBytes>>::reduce(&k256::FieldBytes::from(*bytes))
}

/// The batch's coefficients, one a signature in order: 127 bits each, odd so none is zero,
/// and below 2¹²⁷ so that they stay short for the bucket method ([`buckets`]).
///
/// They are read from SHAKE256 after it has absorbed everything the batch checks (the
/// transcript: each digest, signature and key, in order), so they depend on all of it and
/// are fixed only once every signature is. One permutation gives eight of them; a keccak256
/// of the seed and the index for each, as before, cost one permutation a signature, about
/// 0.36 µs in wasm.
struct BatchCoefficients(tiny_keccak::Shake);

impl BatchCoefficients {
    fn new(batch: &[ExactCheck<'_>]) -> Self {
        use tiny_keccak::Hasher as _;
        let mut transcript = tiny_keccak::Shake::v256();
        transcript.update(b"edgeledger exact ecdsa batch");
        for check in batch {
            transcript.update(&check.prehash.0);
            transcript.update(&check.signature.r.0);
            transcript.update(&check.signature.s.0);
            transcript.update(&[u8::from(check.signature.y_parity)]);
            transcript.update(check.public_key.as_xy());
        }
        Self(transcript)
    }

    fn next_coefficient(&mut self) -> u128 {
        use tiny_keccak::Xof as _;
        let mut bits = [0u8; 16];
        self.0.squeeze(&mut bits);
        (u128::from_be_bytes(bits) >> 1) | 1
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

    /// Keys `1..=count` (as secret bytes), with their addresses worked out directly.
    fn keys_and_addresses(count: u8) -> Vec<(PublicKey, Address)> {
        (1..=count)
            .map(|byte| {
                let key = SecretKey::from_bytes(&[byte; 32])
                    .expect("key")
                    .public_key();
                (key, key.address())
            })
            .collect()
    }

    #[test]
    fn known_keys_give_each_key_its_own_address_when_keys_share_a_slot() {
        let keys = keys_and_addresses(200);
        // 200 keys in 64 slots: many share one, so they evict each other as they alternate.
        let mut known = KnownKeys::new();
        for _ in 0..3 {
            for (key, address) in &keys {
                assert_eq!(known.address(key), *address);
                let (parsed, parsed_address) = known.parse(key.as_xy()).expect("a key");
                assert_eq!((parsed, parsed_address), (*key, *address));
            }
        }
    }

    #[test]
    fn known_keys_check_bytes_they_have_not_seen() {
        let (key, address) = keys_and_addresses(1)[0];
        let mut known = KnownKeys::new();
        assert_eq!(known.parse(key.as_xy()), Ok((key, address)));
        // The same slot, one bit off the curve: not the known key, so checked and refused.
        let mut off_curve = key.to_xy();
        off_curve[40] ^= 1;
        assert_eq!(known.parse(&off_curve), Err(SignatureError::InvalidKey));
        // The other forms still parse, to the same key.
        let mut sec1 = vec![0x04];
        sec1.extend_from_slice(key.as_xy());
        assert_eq!(known.parse(&sec1), Ok((key, address)));
        assert_eq!(known.parse(&[1u8; 12]), Err(SignatureError::InvalidKey));
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

    /// A digest, its signature and the key it should verify against.
    type Signed = (Hash, RecoverableSignature, PublicKey);

    /// A way to spoil one signature of a batch, named.
    type Corruption = (&'static str, Box<dyn Fn(&mut Signed)>);

    /// `count` digests signed round-robin by `keys` distinct keys.
    fn signed_batch(count: usize, keys: u8) -> Vec<Signed> {
        (0..count)
            .map(|index| {
                let key = SecretKey::from_bytes(&[1 + (index % usize::from(keys)) as u8; 32])
                    .expect("key");
                let digest = keccak256((index as u64).to_be_bytes());
                (digest, key.sign(&digest), key.public_key())
            })
            .collect()
    }

    fn checks(batch: &[Signed]) -> Vec<ExactCheck<'_>> {
        checks_carrying(batch, &[])
    }

    /// The checks of `batch`, the i-th carrying `nonce_ys[i]` (none past its end).
    fn checks_carrying<'a>(
        batch: &'a [Signed],
        nonce_ys: &'a [Option<NonceY>],
    ) -> Vec<ExactCheck<'a>> {
        batch
            .iter()
            .enumerate()
            .map(|(index, (prehash, signature, public_key))| ExactCheck {
                prehash,
                signature,
                public_key,
                nonce_y: nonce_ys.get(index).and_then(Option::as_ref),
            })
            .collect()
    }

    /// Each signature's nonce y, as the front door computes it.
    fn nonce_ys(batch: &[Signed]) -> Vec<Option<NonceY>> {
        batch
            .iter()
            .map(|(_, signature, _)| Some(signature.nonce_y().expect("a signed nonce point")))
            .collect()
    }

    fn coefficients(batch: &[Signed], count: usize) -> Vec<u128> {
        let mut stream = BatchCoefficients::new(&checks(batch));
        (0..count).map(|_| stream.next_coefficient()).collect()
    }

    #[test]
    fn batch_coefficients_are_short_odd_distinct_and_follow_every_checked_byte() {
        let batch = signed_batch(20, 3);
        let first = coefficients(&batch, 20);
        assert!(first.iter().all(|coefficient| coefficient >> 127 == 0));
        assert!(first.iter().all(|coefficient| coefficient & 1 == 1));
        assert_eq!(
            first
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            first.len()
        );
        assert_eq!(coefficients(&batch, 20), first, "a function of the batch");
        let other_key = batch[0].2;
        let spoilt: [Corruption; 5] = [
            ("digest", Box::new(|signed| signed.0.0[0] ^= 1)),
            ("r", Box::new(|signed| signed.1.r.0[31] ^= 1)),
            ("s", Box::new(|signed| signed.1.s.0[31] ^= 1)),
            ("parity", Box::new(|signed| signed.1.y_parity ^= true)),
            ("key", Box::new(move |signed| signed.2 = other_key)),
        ];
        for (what, spoil) in spoilt {
            let mut changed = batch.clone();
            spoil(&mut changed[19]);
            assert_ne!(coefficients(&changed, 20)[0], first[0], "{what}");
        }
    }

    #[test]
    fn the_carried_nonce_y_is_the_y_of_the_nonce_point() {
        use k256::elliptic_curve::point::AffineCoordinates;
        for (_, signature, _) in signed_batch(16, 4) {
            let decompressed = signature.nonce_point(None).expect("a signed nonce point");
            let nonce_y = signature.nonce_y().expect("a signed nonce point");
            assert_eq!(nonce_y.0, <[u8; 32]>::from(decompressed.y()));
            assert_eq!(nonce_y.0[31] & 1 == 1, signature.y_parity);
        }
    }

    #[test]
    fn a_batch_carrying_its_nonce_ys_verifies() {
        for keys in [1, 3] {
            for count in [1, 2, 40] {
                let batch = signed_batch(count, keys);
                let ys = nonce_ys(&batch);
                assert!(
                    verify_exact_batch(&checks_carrying(&batch, &ys)),
                    "{count} of {keys} keys"
                );
                // Some carrying it and some not is as good.
                assert!(verify_exact_batch(&checks_carrying(
                    &batch,
                    &ys[..count / 2]
                )));
            }
        }
    }

    /// A wrong nonce y for the signature at a position, named.
    type NonceYCorruption<'a> = (&'static str, Box<dyn Fn(usize) -> NonceY + 'a>);

    /// The signatures stay valid; only the y the transaction carries is wrong, and that alone
    /// fails the batch, one signature long or more.
    #[test]
    fn a_wrong_carried_nonce_y_fails_the_batch() {
        use k256::elliptic_curve::point::AffineCoordinates;
        let valid = signed_batch(12, 3);
        let ys = nonce_ys(&valid);
        let other_root = |y: &NonceY, signature: &RecoverableSignature| {
            let point = signature.nonce_point(Some(y)).expect("the right y");
            NonceY((-point).y().into())
        };
        let corruptions: Vec<NonceYCorruption<'_>> = vec![
            // On the curve, but the other parity than the signature states.
            (
                "the other root",
                Box::new(|at| other_root(&ys[at].expect("carried"), &valid[at].1)),
            ),
            (
                "a flipped bit",
                Box::new(|at| {
                    let mut y = ys[at].expect("carried");
                    y.0[7] ^= 0x10;
                    y
                }),
            ),
            (
                "another signature's",
                Box::new(|at| ys[(at + 1) % 12].expect("carried")),
            ),
            ("zero", Box::new(|_| NonceY::ZERO)),
            (
                "not below the field's prime",
                Box::new(|_| NonceY([0xff; 32])),
            ),
        ];
        for (what, corrupt) in &corruptions {
            for position in [0, 5, 11] {
                let mut carried = ys.clone();
                carried[position] = Some(corrupt(position));
                assert!(
                    !verify_exact_batch(&checks_carrying(&valid, &carried)),
                    "{what} y at {position} passed in a batch"
                );
                let single = &valid[position..=position];
                assert!(
                    !verify_exact_batch(&checks_carrying(single, &carried[position..=position])),
                    "{what} y passed alone"
                );
            }
        }
    }

    #[test]
    fn a_batch_of_valid_signatures_verifies_with_repeated_and_distinct_keys() {
        for keys in [1, 3, 40] {
            for count in [0, 1, 2, 40] {
                let batch = signed_batch(count, keys);
                assert!(
                    verify_exact_batch(&checks(&batch)),
                    "{count} of {keys} keys"
                );
            }
        }
    }

    #[test]
    fn one_bad_signature_fails_the_batch() {
        let valid = signed_batch(12, 3);
        let other_key = SecretKey::from_bytes(&[99; 32]).expect("key").public_key();
        let order = parse_order().expect("order");
        let corruptions: Vec<Corruption> = vec![
            ("another key", Box::new(move |item| item.2 = other_key)),
            (
                "another digest",
                Box::new(|item| item.0 = keccak256(b"other")),
            ),
            // Plain ECDSA accepts the flipped parity; exact verification does not.
            (
                "flipped parity",
                Box::new(|item| item.1.y_parity = !item.1.y_parity),
            ),
            ("another s", Box::new(|item| item.1.s.0[31] ^= 1)),
            ("another r", Box::new(|item| item.1.r.0[31] ^= 1)),
            ("zero r", Box::new(|item| item.1.r = Hash::ZERO)),
            (
                "r of the order",
                Box::new(move |item| item.1.r = Hash(order)),
            ),
        ];
        for (what, corrupt) in &corruptions {
            for position in [0, 5, 11] {
                let mut batch = valid.clone();
                corrupt(&mut batch[position]);
                let (prehash, signature, public_key) = &batch[position];
                assert!(
                    signature.verify_exact(prehash, public_key).is_err(),
                    "{what} still verifies alone"
                );
                assert!(
                    !verify_exact_batch(&checks(&batch)),
                    "{what} at {position} passed in a batch"
                );
            }
        }
    }

    /// Every signature from its own key: the keys' split terms outnumber the nonce points.
    #[test]
    fn a_bad_signature_anywhere_fails_a_batch_of_distinct_keys() {
        let count: usize = 301;
        let valid: Vec<Signed> = (0..count as u64)
            .map(|index| {
                let mut secret = [7u8; 32];
                secret[..8].copy_from_slice(&index.to_be_bytes());
                let key = SecretKey::from_bytes(&secret).expect("key");
                let digest = keccak256(index.to_be_bytes());
                (digest, key.sign(&digest), key.public_key())
            })
            .collect();
        assert!(verify_exact_batch(&checks(&valid)));
        for position in [0, 150, count - 1] {
            let mut batch = valid.clone();
            batch[position].1.y_parity = !batch[position].1.y_parity;
            assert!(!verify_exact_batch(&checks(&batch)), "bad at {position}");
        }
    }

    /// Two bad signatures whose errors cancel: swapping the signatures of two digests signed
    /// by one key keeps the unweighted sum `Σ zᵢ·G + Σ rᵢ·Q − Σ sᵢ·Rᵢ` at `O`. Only the
    /// random coefficients catch it.
    #[test]
    fn swapped_signatures_of_one_key_fail_the_batch() {
        let mut batch = signed_batch(6, 1);
        let (first, second) = (batch[1].1, batch[4].1);
        batch[1].1 = second;
        batch[4].1 = first;
        assert!(!verify_exact_batch(&checks(&batch)));
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
    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// Whatever is corrupted, the batch passes exactly when every signature does.
            #[test]
            fn a_batch_passes_exactly_when_every_signature_verifies(
                count in 1usize..12,
                keys in 1u8..5,
                carried in proptest::collection::vec(any::<bool>(), 12),
                corruptions in proptest::collection::vec((0usize..12, 0usize..5, any::<u8>()), 0..3),
            ) {
                let mut batch = signed_batch(count, keys);
                // The y each transaction carries, or none, taken before any corruption.
                let mut ys: Vec<Option<NonceY>> = nonce_ys(&batch)
                    .into_iter()
                    .zip(&carried)
                    .map(|(y, carry)| y.filter(|_| *carry))
                    .collect();
                for (position, field, byte) in corruptions {
                    let position = position % count;
                    let item = &mut batch[position];
                    match field {
                        0 => item.0.0[usize::from(byte) % 32] ^= 1 | byte,
                        1 => item.1.s.0[usize::from(byte) % 32] ^= 1 | byte,
                        2 => item.1.y_parity = !item.1.y_parity,
                        3 => item.2 = SecretKey::from_bytes(&[(byte & 0x7f) | 1; 32]).expect("key").public_key(),
                        _ => if let Some(y) = &mut ys[position] {
                            y.0[usize::from(byte) % 32] ^= 1 | byte;
                        },
                    }
                }
                // Each signature verifies on its own, and what it carries is its nonce's y.
                let every = batch.iter().zip(&ys).all(|((prehash, signature, key), y)| {
                    signature.verify_exact(prehash, key).is_ok()
                        && y.is_none_or(|y| signature.nonce_y() == Ok(y))
                });
                prop_assert_eq!(verify_exact_batch(&checks_carrying(&batch, &ys)), every);
            }

            /// libsecp256k1's recovery (ours) and k256's agree on every signature: the same key,
            /// or both refuse. Corrupted `r`, `s`, parity and digests reach both recoveries,
            /// including nonce points that do not exist (`r` not an x coordinate).
            #[test]
            fn recovery_agrees_with_k256_on_any_signature(
                case in cases(4),
            ) {
                prop_assume!(case.is_some());
                let (digest, signature, _) = case.expect("checked");
                prop_assert_eq!(signature.recover(&digest), recover_with_k256(&signature, &digest));
            }

            /// Exact verification by recovery (ours) and by k256's double multiplication agree
            /// on every signature and key: the same nonce y, or the same refusal. Corrupted
            /// `r`, `s`, parity, digests and keys reach both.
            #[test]
            fn exact_verification_agrees_with_k256_on_any_signature(
                case in cases(5),
            ) {
                prop_assume!(case.is_some());
                let (digest, signature, public_key) = case.expect("checked");
                prop_assert_eq!(
                    signature.verify_exact(&digest, &public_key),
                    signature.verify_exact_k256(&digest, &public_key)
                );
            }

            /// libsecp256k1's verification (ours) and k256's agree on every signature and key:
            /// corrupted `r`, `s`, parity, digests and keys are refused by both (the parity
            /// by neither: plain verification ignores it), valid ones accepted.
            #[test]
            fn verification_agrees_with_k256_on_any_signature(
                case in cases(5),
            ) {
                use k256::ecdsa::signature::hazmat::PrehashVerifier;
                prop_assume!(case.is_some());
                let (digest, signature, public_key) = case.expect("checked");
                let with_k256 = signature.to_k256().and_then(|(k256_signature, _)| {
                    PublicKey::point_of(public_key.as_xy())
                        .expect("a key")
                        .verify_prehash(&digest.0, &k256_signature)
                        .map_err(|_| SignatureError::Invalid)
                });
                prop_assert_eq!(signature.verify(&digest, &public_key), with_k256);
            }
        }

        /// Signed cases ([`signed_case`]) with one of the first `fields` fields spoilt, or none.
        fn cases(
            fields: usize,
        ) -> impl Strategy<Value = Option<(Hash, RecoverableSignature, PublicKey)>> {
            (
                any::<[u8; 32]>(),
                any::<[u8; 32]>(),
                proptest::option::of((0..fields, any::<u8>(), any::<u8>())),
            )
                .prop_map(|(seed, message, corruption)| signed_case(seed, message, corruption))
        }

        /// `message` signed by the key `seed` makes (`None` if it makes none), then one field
        /// spoilt: `r`, `s`, the parity, the digest or the key the signature is checked against.
        fn signed_case(
            seed: [u8; 32],
            message: [u8; 32],
            corruption: Option<(usize, u8, u8)>,
        ) -> Option<(Hash, RecoverableSignature, PublicKey)> {
            let key = SecretKey::from_bytes(&seed).ok()?;
            let mut digest = Hash(message);
            let mut signature = key.sign(&digest);
            let mut public_key = key.public_key();
            if let Some((field, index, byte)) = corruption {
                let index = usize::from(index) % 32;
                match field {
                    0 => signature.r.0[index] ^= 1 | byte,
                    1 => signature.s.0[index] ^= 1 | byte,
                    2 => signature.y_parity = !signature.y_parity,
                    3 => digest.0[index] ^= 1 | byte,
                    _ => {
                        public_key = SecretKey::from_bytes(&[(byte & 0x7f) | 1; 32])
                            .expect("key")
                            .public_key()
                    }
                }
            }
            Some((digest, signature, public_key))
        }

        /// k256's recovery, the reference `recover` is held to.
        fn recover_with_k256(
            signature: &RecoverableSignature,
            prehash: &Hash,
        ) -> SignatureResult<PublicKey> {
            let (k256_signature, recovery_id) = signature.to_k256()?;
            VerifyingKey::recover_from_prehash(&prehash.0, &k256_signature, recovery_id)
                .map(PublicKey::from_point)
                .map_err(|_| SignatureError::Unrecoverable)
        }
    }
}
