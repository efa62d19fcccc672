//! A full-length term `k·P` as two short ones, by secp256k1's endomorphism (GLV: Gallant,
//! Lambert and Vanstone): the keys' and the generator's terms of a signature batch, so the
//! bucket method ([`super::buckets`]) takes them with the nonce points.
//!
//! secp256k1 has a cheap map `φ(x, y) = (β·x, y)` that multiplies every point by one scalar
//! `λ` (a cube root of one modulo the order `n`). Any scalar splits as `k = k₁ + k₂·λ (mod n)`
//! with `|k₁|, |k₂| < 2¹²⁸`, so `k·P = k₁·P + k₂·φ(P)`: two terms of half the length for one
//! field multiplication. A negative half is folded into its point (`−P` is a negation of y).
//!
//! The split rounds `k` against a short basis of the lattice `{(a, b) : a + b·λ ≡ 0 mod n}`
//! (Hankerson, Menezes and Vanstone, *Guide to Elliptic Curve Cryptography*, algorithm 3.74),
//! with the divisions by `n` replaced by multiplications by `2³⁸⁴/n`-scaled constants and a
//! shift. The constants are the published ones for secp256k1 (as in libsecp256k1); the tests
//! check they fit together and agree with k256's `φ`.
//!
//! Variable time: for public data only (signatures being verified).

use k256::elliptic_curve::bigint::U256;
use k256::elliptic_curve::scalar::IsHigh;
use k256::{ProjectivePoint, Scalar};

use super::reduced_scalar;

/// `λ`: `φ(P) = λ·P` for k256's `ProjectivePoint::endomorphism`.
const LAMBDA: [u8; 32] = be_bytes(
    0x5363_ad4c_c05c_30e0_a526_1c02_8812_645a,
    0x122e_22ea_2081_6678_df02_967c_1b23_bd72,
);

/// `−b₁` of the short basis `(a₁, b₁), (a₂, b₂)` (`b₁` is negative).
const MINUS_B1: u128 = 0xe443_7ed6_010e_8828_6f54_7fa9_0abf_e4c3;

/// `b₂` of the short basis.
const B2: u128 = 0x3086_d221_a7d4_6bcd_e86c_90e4_9284_eb15;

/// `round(2³⁸⁴·b₂ / n)`: `c₁ = round(k·g₁ / 2³⁸⁴)` estimates `k·b₂ / n`.
const G1: [u8; 32] = be_bytes(
    0x3086_d221_a7d4_6bcd_e86c_90e4_9284_eb15,
    0x3daa_8a14_71e8_ca7f_e893_209a_45db_b031,
);

/// `round(2³⁸⁴·(−b₁) / n)`: `c₂ = round(k·g₂ / 2³⁸⁴)` estimates `k·(−b₁) / n`.
const G2: [u8; 32] = be_bytes(
    0xe443_7ed6_010e_8828_6f54_7fa9_0abf_e4c4,
    0x2212_08ac_9df5_06c6_1571_b4ae_8ac4_7f71,
);

/// `k·P` as `[(±P, |k₁|), (±φ(P), |k₂|)]`, both scalars below 2¹²⁸ and their signs in the
/// points. `None` only if a half were not short, which the basis rules out: the caller then
/// fails the batch (and its signatures are checked one by one) rather than sum a wrong term.
pub(super) fn split(point: &ProjectivePoint, k: &Scalar) -> Option<[(ProjectivePoint, u128); 2]> {
    let (k1, k2) = decompose(k);
    Some([
        signed_term(*point, k1)?,
        signed_term(point.endomorphism(), k2)?,
    ])
}

/// `(k₁, k₂)` with `k ≡ k₁ + k₂·λ (mod n)`, each within 2¹²⁸ of zero (as a residue, either
/// below 2¹²⁸ or above `n − 2¹²⁸`).
fn decompose(k: &Scalar) -> (Scalar, Scalar) {
    let c1 = reduced_scalar(&rounded_product_shifted_384(k, &G1));
    let c2 = reduced_scalar(&rounded_product_shifted_384(k, &G2));
    // k₂ = −c₁·b₁ − c₂·b₂, and k₁ = k − k₂·λ: the lattice vector (c₁·a₁ + c₂·a₂, c₁·b₁ + c₂·b₂)
    // closest to (k, 0), taken away.
    let k2 = c1 * Scalar::from(MINUS_B1) - c2 * Scalar::from(B2);
    let k1 = *k - k2 * reduced_scalar(&LAMBDA);
    (k1, k2)
}

/// `round(k·g / 2³⁸⁴)`, big-endian: the high half of the 512-bit product shifted by 128 more
/// bits, plus the bit below them.
fn rounded_product_shifted_384(k: &Scalar, g: &[u8; 32]) -> [u8; 32] {
    let (_, high) = U256::from_be_slice(&k.to_bytes()).widening_mul(&U256::from_be_slice(g));
    let round_up = high.bit_vartime(127);
    let mut quotient = high.shr_vartime(128);
    if round_up {
        quotient = quotient.wrapping_add(&U256::ONE);
    }
    quotient.to_be_bytes().into()
}

/// `k·P` as `|k|·(±P)` with `|k|` a `u128`, if `k` is below 2¹²⁸ in magnitude.
fn signed_term(point: ProjectivePoint, k: Scalar) -> Option<(ProjectivePoint, u128)> {
    let (negative, magnitude) = short_magnitude(k)?;
    Some((if negative { -point } else { point }, magnitude))
}

/// Whether `k` is negative (a residue above `n / 2`) and its magnitude, if that is below
/// 2¹²⁸.
fn short_magnitude(k: Scalar) -> Option<(bool, u128)> {
    let negative = bool::from(k.is_high());
    let bytes = if negative { -k } else { k }.to_bytes();
    let (high, low) = bytes.split_at(16);
    let low: [u8; 16] = low.try_into().ok()?;
    high.iter()
        .all(|&byte| byte == 0)
        .then(|| (negative, u128::from_be_bytes(low)))
}

/// A 256-bit constant from its high and low 128 bits, as big-endian bytes.
const fn be_bytes(high: u128, low: u128) -> [u8; 32] {
    let (high, low) = (high.to_be_bytes(), low.to_be_bytes());
    let mut bytes = [0u8; 32];
    let mut index = 0;
    while index < 16 {
        bytes[index] = high[index];
        bytes[16 + index] = low[index];
        index += 1;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lambda() -> Scalar {
        reduced_scalar(&LAMBDA)
    }

    /// The order minus one, and a few others near the edges of the split's bounds.
    fn edge_scalars() -> Vec<Scalar> {
        let mut scalars = vec![
            Scalar::ZERO,
            Scalar::ONE,
            -Scalar::ONE,
            lambda(),
            -lambda(),
            Scalar::from(u128::MAX),
            -Scalar::from(u128::MAX),
            Scalar::from(MINUS_B1),
            Scalar::from(B2),
        ];
        let mut state = Scalar::from(0x1234_5678_u64);
        for _ in 0..2_000 {
            state = state.square() + Scalar::from(7u64);
            scalars.push(state);
        }
        scalars
    }

    #[test]
    fn lambda_is_a_cube_root_of_one_and_is_k256s_endomorphism() {
        let lambda = lambda();
        assert_ne!(lambda, Scalar::ONE);
        assert_eq!(lambda.square() * lambda, Scalar::ONE);
        for point in [
            ProjectivePoint::GENERATOR,
            ProjectivePoint::GENERATOR * Scalar::from(987_654_321u64),
        ] {
            assert_eq!(point * lambda, point.endomorphism());
        }
    }

    #[test]
    fn the_halves_rebuild_the_scalar_and_stay_below_2_to_the_128() {
        for k in edge_scalars() {
            let (k1, k2) = decompose(&k);
            assert_eq!(k1 + k2 * lambda(), k, "{k:?}");
            assert!(
                short_magnitude(k1).is_some() && short_magnitude(k2).is_some(),
                "{k:?} split into {k1:?}, {k2:?}"
            );
        }
    }

    proptest::proptest! {
        /// Any scalar at all, not only the sequence above.
        #[test]
        fn any_scalar_splits_into_two_short_halves(bytes in proptest::array::uniform32(0u8..)) {
            let k = reduced_scalar(&bytes);
            let (k1, k2) = decompose(&k);
            proptest::prop_assert_eq!(k1 + k2 * lambda(), k);
            proptest::prop_assert!(short_magnitude(k1).is_some() && short_magnitude(k2).is_some());
        }
    }

    #[test]
    fn the_two_short_terms_are_the_full_term() {
        let point = ProjectivePoint::GENERATOR * Scalar::from(31_337u64);
        for k in edge_scalars().into_iter().take(40) {
            let sum: ProjectivePoint = split(&point, &k)
                .expect("short halves")
                .iter()
                .map(|(term_point, magnitude)| *term_point * Scalar::from(*magnitude))
                .sum();
            assert_eq!(sum, point * k, "{k:?}");
        }
    }

    #[test]
    fn the_rounding_rounds_half_up() {
        let big_endian = |bit: u32| {
            let mut bytes = [0u8; 32];
            bytes[31 - (bit / 8) as usize] = 1 << (bit % 8);
            bytes
        };
        let g = big_endian(255);
        // 2¹²⁸·2²⁵⁵ = 2³⁸³, half of 2³⁸⁴: rounds up to one.
        let half = rounded_product_shifted_384(&reduced_scalar(&big_endian(128)), &g);
        assert_eq!(half, big_endian(0));
        // (2¹²⁸ − 1)·2²⁵⁵, just under half: rounds down to zero.
        let under_half = Scalar::from(u128::MAX);
        assert_eq!(rounded_product_shifted_384(&under_half, &g), [0u8; 32]);
    }
}
