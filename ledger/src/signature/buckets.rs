//! `Σ kᵢ·Pᵢ` for many affine points and short (128-bit) scalars, by the bucket method
//! (Pippenger's algorithm): a whole signature batch, its nonce points with their coefficients
//! and the keys' and the generator's terms split in two by [`super::glv`].
//!
//! Each scalar is cut into signed windows of `c` bits. For one window, every point goes into
//! the bucket of its digit (one mixed addition, negated for a negative digit), and a running
//! sum over the buckets from the highest digit down adds each bucket as many times as its
//! digit. Windows are combined from the top with `c` doublings each. For `n` points that is
//! about `⌈129 / c⌉ · (n + 2^c)` additions, against about `128 / 6 + 8` per point for the
//! windowed multiplication k256's `lincomb_vartime` does (a table of eight multiples per point
//! and a sparse digit every six bits or so). From a few hundred points on, and with mixed
//! additions, the buckets cost less, and their memory is a few hundred points however many
//! terms there are, where the windowed tables take about 6 KB a term.
//!
//! Variable time: for public data only (signatures being verified).

use k256::{AffinePoint, ProjectivePoint};

/// Bits a scalar may have: all of a `u128` (the batch coefficients are below 2¹²⁷, the GLV
/// halves below 2¹²⁸).
const SCALAR_BITS: u32 = u128::BITS;

/// `Σ kᵢ·Pᵢ` over `terms`.
pub(super) fn short_linear_combination(terms: &[(AffinePoint, u128)]) -> ProjectivePoint {
    let window = window_bits(terms.len());
    let digits = signed_digits(terms, window);
    let windows = window_count(window);
    let mut total = ProjectivePoint::IDENTITY;
    for index in (0..windows).rev() {
        for _ in 0..window {
            total = total.double();
        }
        let column = digits.chunks_exact(windows).map(|term| term[index]);
        total += window_sum(terms, column, window);
    }
    total
}

/// The window width that makes `⌈129 / c⌉ · (n + 2^c)` smallest for `n` terms.
fn window_bits(terms: usize) -> u32 {
    (2..=12)
        .min_by_key(|&bits| window_count(bits) * (terms + (1 << bits)))
        .unwrap_or(6)
}

/// Windows of `bits` that hold a 128-bit scalar in signed digits (the last carry included:
/// `bits · count ≥ 129`, so the top window's bits are below `2^(c−1)` and its digit, carry
/// and all, needs no further one).
fn window_count(bits: u32) -> usize {
    (SCALAR_BITS + 1).div_ceil(bits) as usize
}

/// Each scalar as [`window_count`] signed digits in `(−2^(c−1), 2^(c−1)]`, least significant
/// first: `k = Σ dⱼ·2^(c·j)`. One flat array, term after term (one allocation a batch, not
/// one a signature).
fn signed_digits(terms: &[(AffinePoint, u128)], bits: u32) -> Vec<i32> {
    let full = 1i64 << bits;
    let half = full / 2;
    let windows = window_count(bits);
    let mut digits = Vec::with_capacity(terms.len() * windows);
    for &(_, scalar) in terms {
        let mut rest = scalar;
        let mut carry = 0i64;
        for _ in 0..windows {
            let mut digit = (rest & (full as u128 - 1)) as i64 + carry;
            rest >>= bits;
            carry = 0;
            if digit > half {
                digit -= full;
                carry = 1;
            }
            digits.push(digit as i32);
        }
    }
    digits
}

/// `Σ dᵢ·Pᵢ` for one window's digits `dᵢ`: each point into the bucket of its digit, then the
/// buckets weighted by their digit through a running sum.
fn window_sum(
    terms: &[(AffinePoint, u128)],
    digits: impl Iterator<Item = i32>,
    bits: u32,
) -> ProjectivePoint {
    // Bucket b holds the points whose digit is ±(b + 1); `None` is the identity, so the first
    // point of a bucket costs no addition.
    let mut buckets: Vec<Option<ProjectivePoint>> = vec![None; 1 << (bits - 1)];
    for ((point, _), digit) in terms.iter().zip(digits) {
        if digit == 0 {
            continue;
        }
        let point = if digit < 0 { -*point } else { *point };
        let bucket = &mut buckets[digit.unsigned_abs() as usize - 1];
        *bucket = Some(match bucket {
            Some(sum) => *sum + point,
            None => ProjectivePoint::from(point),
        });
    }
    // Above the highest bucket in use the sums would only add the identity, and the top
    // window holds only the scalars' last few bits (or their carries): low buckets. With
    // the wide windows of a large batch, that skips most of a window's additions.
    let in_use = buckets
        .iter()
        .rposition(Option::is_some)
        .map_or(0, |top| top + 1);
    let mut running = ProjectivePoint::IDENTITY;
    let mut weighted = ProjectivePoint::IDENTITY;
    for bucket in buckets[..in_use].iter().rev() {
        if let Some(sum) = bucket {
            running += sum;
        }
        weighted += running;
    }
    weighted
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::Scalar;

    fn point(seed: u64) -> AffinePoint {
        (ProjectivePoint::GENERATOR * Scalar::from(seed.wrapping_mul(0x9e37_79b9) | 1)).to_affine()
    }

    fn direct(terms: &[(AffinePoint, u128)]) -> ProjectivePoint {
        terms
            .iter()
            .map(|(point, scalar)| ProjectivePoint::from(*point) * Scalar::from(*scalar))
            .sum()
    }

    #[test]
    fn digits_rebuild_the_scalar() {
        for bits in 2..=12 {
            for scalar in [
                0,
                1,
                u128::MAX >> 1,
                u128::MAX,
                (1u128 << 127) + 12_345,
                0x5555 << 100,
            ] {
                let digits = &signed_digits(&[(AffinePoint::GENERATOR, scalar)], bits);
                let half = 1i128 << (bits - 1);
                assert!(
                    digits
                        .iter()
                        .all(|&d| -half < i128::from(d) && i128::from(d) <= half)
                );
                // Rebuilt modulo the order, which is past 2¹³⁰: a wrong top digit or a lost
                // carry would show, where modulo 2¹²⁸ it would not.
                let rebuilt = digits.iter().rev().fold(Scalar::ZERO, |sum, &digit| {
                    let digit_scalar = Scalar::from(digit.unsigned_abs());
                    let shifted = sum * Scalar::from(1u64 << bits);
                    if digit < 0 {
                        shifted - digit_scalar
                    } else {
                        shifted + digit_scalar
                    }
                });
                assert_eq!(
                    rebuilt,
                    Scalar::from(scalar),
                    "{scalar:#x} in {bits}-bit windows"
                );
            }
        }
    }

    #[test]
    fn agrees_with_multiplying_each_term() {
        for count in [0usize, 1, 2, 7, 64, 300] {
            let terms: Vec<(AffinePoint, u128)> = (0..count as u64)
                .map(|index| {
                    let scalar = ((u128::from(index) * 0x1234_5678_9abc_def1) << 64)
                        ^ u128::from(index * 977);
                    (point(index), if index == 3 { u128::MAX } else { scalar })
                })
                .collect();
            assert_eq!(
                short_linear_combination(&terms),
                direct(&terms),
                "{count} terms"
            );
        }
    }

    #[test]
    fn repeated_and_opposite_points_cancel() {
        let p = point(5);
        let terms = [(p, 10u128), (-p, 4), (p, 0), (-p, 6)];
        assert_eq!(short_linear_combination(&terms), ProjectivePoint::IDENTITY);
    }

    #[test]
    fn wider_windows_for_more_terms() {
        assert!(window_bits(16) < window_bits(256));
        assert!(window_bits(256) < window_bits(4_096));
    }
}
