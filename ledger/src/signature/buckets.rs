//! `Σ kᵢ·Pᵢ` for many affine points and short (128-bit) scalars, by the bucket method
//! (Pippenger's algorithm): a whole signature batch, its nonce points with their coefficients
//! and the keys' and the generator's terms split in two by [`super::glv`].
//!
//! Each scalar is cut into signed windows of `c` bits. For one window, every point goes into
//! the bucket of its digit (negated for a negative digit), and a running sum over the buckets
//! from the highest digit down adds each bucket as many times as its digit. Windows are
//! combined from the top with `c` doublings each. For `n` points that is about
//! `⌈129 / c⌉ · n` additions into buckets and `⌈129 / c⌉ · 2^c` in the running sums.
//!
//! The additions into buckets are most of the work, and they are done in affine coordinates,
//! many at once ("batch-affine"): adding `Q` to `P` takes the slope
//! `λ = (y_Q − y_P) / (x_Q − x_P)` and then `x = λ² − x_P − x_Q`, `y = λ·(x_P − x) − y_P`, two
//! multiplications and a square besides the division. The divisions of a whole round of
//! additions share one field inversion (Montgomery's trick, three multiplications each), so an
//! addition costs about six field multiplications, where k256's mixed addition (complete
//! projective formulas) costs eleven. A round adds the points of every bucket in pairs, which
//! halves each bucket's list, until one point is left in each ([`BucketSums`]). The running
//! sums, a few hundred buckets a window, stay with k256's projective additions.
//!
//! Variable time: for public data only (signatures being verified).

use k256::elliptic_curve::hazmat::FieldArithmetic;
use k256::elliptic_curve::point::AffineCoordinates;
use k256::{AffinePoint, ProjectivePoint};

/// secp256k1's base field, as k256 implements it. Lazily reduced: each value has a
/// magnitude (how many multiples of the modulus it may exceed), sums add magnitudes,
/// `negate(m)` takes a value of magnitude at most `m` to one of `m + 1`, products and
/// `normalize_weak` bring it back to 1, and a product's inputs may have at most 8. Debug
/// builds check all of it.
type FieldElement = <k256::Secp256k1 as FieldArithmetic>::FieldElement;

/// At most this many points (about 90 bytes each) are laid out in buckets at once: the
/// windows are summed in groups of as many as fit. A group costs one inversion a round (a few
/// hundred multiplications' worth), nothing against its additions.
const POINTS_PER_GROUP: usize = 16_384;

/// Bits a scalar may have: all of a `u128` (the batch coefficients are below 2¹²⁷, the GLV
/// halves below 2¹²⁸).
const SCALAR_BITS: u32 = u128::BITS;

/// Roughly, in field multiplications: one batch-affine addition into a bucket, and one
/// bucket in a window's running sums (its conversion back to k256 and two projective
/// additions). [`window_bits`] weighs the two.
const BUCKET_ADDITION_COST: usize = 6;
const RUNNING_SUM_COST: usize = 12;

/// `Σ kᵢ·Pᵢ` over `terms`; `None` only if a bucket's sum were not a point of the curve,
/// which the formulas rule out (the caller then fails the batch rather than use it). The
/// terms are taken, not borrowed: they are freed, once in the sum's own form, before the
/// buckets are laid out.
pub(super) fn short_linear_combination(terms: Vec<(AffinePoint, u128)>) -> Option<ProjectivePoint> {
    combination_in_groups(terms, POINTS_PER_GROUP)
}

/// [`short_linear_combination`], with at most `points_per_group` points in buckets at once.
fn combination_in_groups(
    terms: Vec<(AffinePoint, u128)>,
    points_per_group: usize,
) -> Option<ProjectivePoint> {
    let term_count = terms.len();
    let bits = window_bits(term_count);
    let windows = window_count(bits);
    let buckets_per_window = 1usize << (bits - 1);
    let digits = signed_digits(&terms, bits);
    let points: Vec<Option<Coordinates>> = terms
        .into_iter()
        .map(|(point, _)| Coordinates::of(&point))
        .collect();
    // Windows from the top, a group at a time: each group's buckets are summed and used up
    // before the next group's points are laid out.
    let windows_per_group = (points_per_group / term_count.max(1)).clamp(1, windows);
    let mut total = ProjectivePoint::IDENTITY;
    for first in (0..windows).step_by(windows_per_group).rev() {
        let group = first..(first + windows_per_group).min(windows);
        let sums = BucketSums::new(&points, &digits, windows, group, buckets_per_window).sum()?;
        for window in sums.chunks_exact(buckets_per_window).rev() {
            for _ in 0..bits {
                total = total.double();
            }
            total += running_sum(window)?;
        }
    }
    Some(total)
}

/// The window width that makes the work smallest for `n` terms: `⌈129 / c⌉` windows, each
/// with `n` additions into buckets and `2^(c−1)` buckets to sum.
fn window_bits(terms: usize) -> u32 {
    (2..=12)
        .min_by_key(|&bits| {
            window_count(bits)
                * (terms * BUCKET_ADDITION_COST + (1 << (bits - 1)) * RUNNING_SUM_COST)
        })
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

/// `Σ d·B_d` over one window's bucket sums `B_d` (bucket `d − 1` holds the points of digit
/// ±d), through a running sum from the highest bucket down.
fn running_sum(buckets: &[Option<Coordinates>]) -> Option<ProjectivePoint> {
    // Above the highest bucket in use the sums would only add the identity, and the top
    // window holds only the scalars' last few bits (or their carries): low buckets.
    let in_use = buckets
        .iter()
        .rposition(Option::is_some)
        .map_or(0, |top| top + 1);
    let mut running = ProjectivePoint::IDENTITY;
    let mut weighted = ProjectivePoint::IDENTITY;
    for bucket in buckets[..in_use].iter().rev() {
        if let Some(sum) = bucket {
            running += sum.to_affine()?;
        }
        weighted += running;
    }
    Some(weighted)
}

/// An affine point other than the identity, both coordinates of magnitude 1.
#[derive(Clone, Copy)]
struct Coordinates {
    x: FieldElement,
    y: FieldElement,
}

impl Coordinates {
    /// `point`'s coordinates; `None` for the identity (which adds nothing).
    fn of(point: &AffinePoint) -> Option<Self> {
        use k256::elliptic_curve::CurveAffine;
        if bool::from(point.is_identity()) {
            return None;
        }
        Some(Self {
            x: Option::from(FieldElement::from_bytes(&point.x()))?,
            y: Option::from(FieldElement::from_bytes(&point.y()))?,
        })
    }

    /// `−P`: y negated.
    fn negated(self) -> Self {
        Self {
            x: self.x,
            y: self.y.negate(1).normalize_weak(),
        }
    }

    /// The same point as k256's, through its checked constructor (the curve equation).
    fn to_affine(self) -> Option<AffinePoint> {
        AffinePoint::from_coordinates(&self.x.to_bytes(), &self.y.to_bytes()).into()
    }

    /// `P + Q` for `Q ≠ ±P`, given `1 / (x_Q − x_P)`.
    fn chord(self, other: &Self, inverse_dx: &FieldElement) -> Self {
        let slope = (other.y + self.y.negate(1)).mul(inverse_dx);
        self.through(other.x, slope)
    }

    /// `2P`, given `1 / 2y` (y is never zero: secp256k1 has no point of order 2): the
    /// tangent's slope is `3x² / 2y`.
    fn tangent(self, inverse_two_y: &FieldElement) -> Self {
        let x_squared = self.x.square();
        let slope = (x_squared.double() + x_squared).mul(inverse_two_y);
        self.through(self.x, slope)
    }

    /// The third point of the line of `slope` through `self` and a point of x `other_x`,
    /// reflected: `x = λ² − x_P − x_Q`, `y = λ·(x_P − x) − y_P`.
    fn through(self, other_x: FieldElement, slope: FieldElement) -> Self {
        let x = (slope.square() + (self.x + other_x).negate(2)).normalize_weak();
        let y = ((self.x + x.negate(1)).mul(&slope) + self.y.negate(1)).normalize_weak();
        Self { x, y }
    }
}

/// A group of windows' buckets with the points that go into them, summed by batch-affine
/// additions in rounds: each round adds the points of every bucket in pairs (the first and
/// second, the third and fourth, ...), all with one inversion, which halves every bucket's
/// list. A bucket of `k` points is summed after `⌈log₂ k⌉` rounds; the top window, which holds
/// only the scalars' last bits, has few buckets of many points and sets how many rounds there
/// are (about ten for a block).
///
/// It holds one group of windows ([`POINTS_PER_GROUP`]): a point for each nonzero digit of
/// each term in those windows, about 1.5 MB at most.
struct BucketSums {
    /// The points, bucket after bucket; `None` is the identity (opposite points summed).
    points: Vec<Option<Coordinates>>,
    /// Where each bucket's points start in `points`, and how many are left to sum.
    starts: Vec<usize>,
    lengths: Vec<usize>,
}

impl BucketSums {
    /// Each term's point (negated for a negative digit) in the bucket of each of its digits
    /// in the windows of `group`, those of the group's first window first. `digits` are
    /// [`signed_digits`]' (`windows` a term); `None` is the identity, whose entries stay
    /// `None` (it adds nothing).
    fn new(
        points_of_terms: &[Option<Coordinates>],
        digits: &[i32],
        windows: usize,
        group: std::ops::Range<usize>,
        buckets_per_window: usize,
    ) -> Self {
        let bucket_of = |window: usize, digit: i32| {
            (digit != 0).then(|| window * buckets_per_window + digit.unsigned_abs() as usize - 1)
        };
        let mut lengths = vec![0; group.len() * buckets_per_window];
        for term_digits in digits.chunks_exact(windows) {
            for (window, &digit) in term_digits[group.clone()].iter().enumerate() {
                if let Some(bucket) = bucket_of(window, digit) {
                    lengths[bucket] += 1;
                }
            }
        }
        let starts: Vec<usize> = lengths
            .iter()
            .scan(0, |next, &length| {
                let start = *next;
                *next += length;
                Some(start)
            })
            .collect();
        let mut points = vec![None; lengths.iter().sum()];
        let mut filled = starts.clone();
        for (&point, term_digits) in points_of_terms.iter().zip(digits.chunks_exact(windows)) {
            let negated = point.map(Coordinates::negated);
            for (window, &digit) in term_digits[group.clone()].iter().enumerate() {
                if let Some(bucket) = bucket_of(window, digit) {
                    points[filled[bucket]] = if digit < 0 { negated } else { point };
                    filled[bucket] += 1;
                }
            }
        }
        Self {
            points,
            starts,
            lengths,
        }
    }

    /// Each bucket's sum (`None` for an empty one, or one whose points cancel); `None` as a
    /// whole only if a tangent's `2y` were zero, which no point of the curve allows.
    fn sum(mut self) -> Option<Vec<Option<Coordinates>>> {
        let mut denominators = Vec::new();
        let mut scratch = Vec::new();
        let mut kinds = Vec::new();
        while self.lengths.iter().any(|&length| length > 1) {
            kinds.clear();
            self.chord_denominators(&mut denominators);
            if !invert_all(&mut denominators, &mut scratch) {
                // A pair with equal x: a point meeting itself or its opposite. Rare by
                // chance, but a signer can reuse a nonce point in many signatures, so these
                // too share the round's one inversion rather than take one each.
                self.denominators_by_kind(&mut denominators, &mut kinds);
                if !invert_all(&mut denominators, &mut scratch) {
                    return None;
                }
            }
            if kinds.is_empty() {
                self.add_pairs(&denominators, std::iter::repeat(PairKind::Chord));
            } else {
                self.add_pairs(&denominators, kinds.iter().copied());
            }
        }
        Some(
            self.starts
                .iter()
                .zip(&self.lengths)
                .map(|(&start, &length)| {
                    if length == 1 {
                        self.points[start]
                    } else {
                        None
                    }
                })
                .collect(),
        )
    }

    /// Each pair's `x_Q − x_P` (1 for a pair with the identity, which needs no division).
    fn chord_denominators(&self, denominators: &mut Vec<FieldElement>) {
        denominators.clear();
        denominators.extend(self.pairs().map(|pair| {
            match (self.points[pair], self.points[pair + 1]) {
                (Some(first), Some(second)) => second.x + first.x.negate(1),
                _ => FieldElement::ONE,
            }
        }));
    }

    /// Each pair's [`PairKind`] and the denominator it divides by: `x_Q − x_P`, the tangent's
    /// `2y`, or 1 (opposite points, or the identity: no division).
    fn denominators_by_kind(
        &self,
        denominators: &mut Vec<FieldElement>,
        kinds: &mut Vec<PairKind>,
    ) {
        denominators.clear();
        for pair in self.pairs() {
            let (kind, denominator) = match (self.points[pair], self.points[pair + 1]) {
                (Some(first), Some(second)) => {
                    let dx = second.x + first.x.negate(1);
                    if !bool::from(dx.normalizes_to_zero()) {
                        (PairKind::Chord, dx)
                    } else if bool::from((second.y + first.y.negate(1)).normalizes_to_zero()) {
                        (PairKind::Tangent, first.y.double())
                    } else {
                        (PairKind::Opposite, FieldElement::ONE)
                    }
                }
                _ => (PairKind::Chord, FieldElement::ONE),
            };
            kinds.push(kind);
            denominators.push(denominator);
        }
    }

    /// Where each pair of this round starts in `points`, bucket after bucket.
    fn pairs(&self) -> impl Iterator<Item = usize> + '_ {
        self.starts
            .iter()
            .zip(&self.lengths)
            .flat_map(|(&start, &length)| (0..length / 2).map(move |pair| start + 2 * pair))
    }

    /// One round: the `i`th pair's sum goes to the bucket's `i`th place (at or before the
    /// pair's, so nothing is overwritten before it is read), an odd last point after them.
    /// `inverses` are the inverted denominators and `kinds` what each is. Generic so that the
    /// usual round, all chords, compiles to a loop with no choice in it.
    fn add_pairs(&mut self, inverses: &[FieldElement], kinds: impl Iterator<Item = PairKind>) {
        let mut pairs = inverses.iter().zip(kinds);
        for (&start, length) in self.starts.iter().zip(self.lengths.iter_mut()) {
            for (pair, (inverse, kind)) in (0..*length / 2).zip(pairs.by_ref()) {
                let first = self.points[start + 2 * pair];
                let second = self.points[start + 2 * pair + 1];
                self.points[start + pair] = match (first, second) {
                    (Some(first), Some(second)) => match kind {
                        PairKind::Chord => Some(first.chord(&second, inverse)),
                        PairKind::Tangent => Some(first.tangent(inverse)),
                        PairKind::Opposite => None,
                    },
                    (first, None) => first,
                    (None, second) => second,
                };
            }
            if *length % 2 == 1 {
                self.points[start + *length / 2] = self.points[start + *length - 1];
            }
            *length = length.div_ceil(2);
        }
    }
}

/// How a round adds a pair of points `P`, `Q`.
#[derive(Clone, Copy)]
enum PairKind {
    /// `Q ≠ ±P`, or one of them the identity.
    Chord,
    /// `Q = P`.
    Tangent,
    /// `Q = −P`: the sum is the identity.
    Opposite,
}

/// Replaces each element of `elements` (magnitude at most 8) by its inverse, at the cost of
/// one inversion and three multiplications each (Montgomery's trick: invert the product, then
/// peel the factors off from the last). If one is zero, so is the product: the elements are
/// then left as they were, and the answer is `false`.
fn invert_all(elements: &mut [FieldElement], prefixes: &mut Vec<FieldElement>) -> bool {
    prefixes.clear();
    let mut product = FieldElement::ONE;
    for element in elements.iter() {
        prefixes.push(product);
        product = product.mul(element);
    }
    if bool::from(product.normalizes_to_zero()) {
        return false;
    }
    let mut inverse = invert(&product);
    for (element, prefix) in elements.iter_mut().zip(prefixes.iter()).rev() {
        let element_inverse = inverse.mul(prefix);
        inverse = inverse.mul(element);
        *element = element_inverse;
    }
    true
}

/// `x^(p−2)`, which is `1/x` for `x ≠ 0` (Fermat), by a fixed chain of 255 squarings and 15
/// multiplications. In wasm32 it takes about 17 µs, k256's `invert_vartime` (crypto-bigint's
/// safegcd) about 19 (20,000 in a row on one core; natively k256's is the faster). A check
/// makes one a round and group, a few dozen: one or two percent of its work.
///
/// `p − 2` in bits, from the top: 223 ones, a zero, 22 ones, then `0000101101`. The chain
/// builds `x^(2^k − 1)` (k ones) for the runs it needs, then shifts the runs into place.
fn invert(x: &FieldElement) -> FieldElement {
    // base^(2^bits) · low: base's exponent shifted up by `bits`, low's below it.
    let shifted = |base: &FieldElement, bits: usize, low: &FieldElement| {
        let mut value = *base;
        for _ in 0..bits {
            value = value.square();
        }
        value.mul(low)
    };
    let x1 = x.normalize_weak();
    let x2 = shifted(&x1, 1, &x1);
    let x3 = shifted(&x2, 1, &x1);
    let x6 = shifted(&x3, 3, &x3);
    let x9 = shifted(&x6, 3, &x3);
    let x11 = shifted(&x9, 2, &x2);
    let x22 = shifted(&x11, 11, &x11);
    let x44 = shifted(&x22, 22, &x22);
    let x88 = shifted(&x44, 44, &x44);
    let x176 = shifted(&x88, 88, &x88);
    let x220 = shifted(&x176, 44, &x44);
    let x223 = shifted(&x220, 3, &x3);
    // A zero, then 22 ones; then 00001, 011, 01.
    let high = shifted(&x223, 23, &x22);
    let high = shifted(&high, 5, &x1);
    let high = shifted(&high, 3, &x2);
    shifted(&high, 2, &x1)
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
        // 600 terms make thousands of bucket additions, in rounds of hundreds.
        for count in [0usize, 1, 2, 7, 64, 300, 600] {
            let terms: Vec<(AffinePoint, u128)> = (0..count as u64)
                .map(|index| {
                    let scalar = ((u128::from(index) * 0x1234_5678_9abc_def1) << 64)
                        ^ u128::from(index * 977);
                    (point(index), if index == 3 { u128::MAX } else { scalar })
                })
                .collect();
            assert_eq!(
                short_linear_combination(terms.clone()),
                Some(direct(&terms)),
                "{count} terms"
            );
        }
    }

    #[test]
    fn windows_summed_in_groups_agree() {
        let terms: Vec<(AffinePoint, u128)> = (0..150u64)
            .map(|index| {
                (
                    point(index),
                    u128::from(index).wrapping_mul(0x9e37_79b9_7f4a_7c15) << 60,
                )
            })
            .collect();
        let expected = Some(direct(&terms));
        // One window a group, a few, and all of them.
        for points_per_group in [1, 400, 1_000, POINTS_PER_GROUP] {
            assert_eq!(
                combination_in_groups(terms.clone(), points_per_group),
                expected,
                "{points_per_group} points a group"
            );
        }
    }

    #[test]
    fn repeated_and_opposite_points_cancel() {
        let p = point(5);
        let terms = [(p, 10u128), (-p, 4), (p, 0), (-p, 6)];
        assert_eq!(
            short_linear_combination(terms.to_vec()),
            Some(ProjectivePoint::IDENTITY)
        );
    }

    #[test]
    fn a_point_meeting_itself_in_a_bucket_is_doubled() {
        // Equal scalars put equal points in the same bucket of every window.
        let p = point(9);
        let terms = [(p, 0x1234_5678u128 << 90), (p, 0x1234_5678 << 90), (p, 1)];
        assert_eq!(
            short_linear_combination(terms.to_vec()),
            Some(direct(&terms)),
        );
    }

    #[test]
    fn the_identity_as_a_term_adds_nothing() {
        let terms = [(AffinePoint::IDENTITY, 77u128), (point(2), 5)];
        assert_eq!(
            short_linear_combination(terms.to_vec()),
            Some(direct(&terms))
        );
    }

    fn element(seed: u64) -> FieldElement {
        // A point's x: any value below p will do, and these are spread over all of it.
        Option::from(FieldElement::from_bytes(&point(seed).x())).expect("an x is below p")
    }

    #[test]
    fn the_chain_inverts_as_k256_does() {
        for value in [
            FieldElement::ONE,
            FieldElement::from_u64(2),
            -FieldElement::ONE,
        ]
        .into_iter()
        .chain((0..20).map(element))
        {
            let expected: FieldElement = Option::from(value.invert_vartime()).expect("nonzero");
            assert_eq!(invert(&value).normalize(), expected.normalize());
            assert_eq!(invert(&value).mul(&value).normalize(), FieldElement::ONE);
        }
    }

    #[test]
    fn every_element_is_inverted_unless_one_is_zero() {
        let mut elements: Vec<FieldElement> = (0..9).map(element).collect();
        // Magnitude 3, as the batch's denominators are.
        elements[6] = elements[6] + elements[1].negate(1);
        let originals = elements.clone();
        assert!(invert_all(&mut elements, &mut Vec::new()));
        for (inverse, original) in elements.iter().zip(&originals) {
            assert_eq!(inverse.mul(original).normalize(), FieldElement::ONE);
        }
        let mut with_zero = originals.clone();
        with_zero[4] = elements[3] + elements[3].negate(1);
        let before = with_zero.clone();
        assert!(!invert_all(&mut with_zero, &mut Vec::new()));
        for (after, before) in with_zero.iter().zip(&before) {
            assert_eq!(after.normalize(), before.normalize());
        }
    }

    #[test]
    fn one_point_many_times_meets_itself_and_its_opposite() {
        // A signer reusing its nonce makes a batch of one nonce point: in every bucket the
        // point meets itself and its opposite, pair after pair.
        let p = point(11);
        let terms: Vec<(AffinePoint, u128)> = (0..700u64)
            .map(|index| {
                let scalar = u128::from(index).wrapping_mul(0x9e37_79b9_7f4a_7c15) % 7 + 1;
                (if index % 3 == 0 { -p } else { p }, scalar << (index % 120))
            })
            .collect();
        assert_eq!(
            short_linear_combination(terms.clone()),
            Some(direct(&terms))
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// A few points, each possibly negated and repeated, with scalars from a few values:
        /// buckets where a point meets itself, its opposite, or a third point, within a batch
        /// and across batches.
        #[test]
        fn agrees_with_multiplying_each_term_when_points_repeat(
            choices in proptest::collection::vec(
                (0u64..4, proptest::prelude::any::<bool>(), 0usize..4),
                0..400,
            ),
        ) {
            const SCALARS: [u128; 4] = [1, u128::MAX, 0x8000_0000_0000_0001 << 60, 3 << 126];
            let terms: Vec<(AffinePoint, u128)> = choices
                .iter()
                .map(|&(seed, negated, scalar)| {
                    let p = point(seed);
                    (if negated { -p } else { p }, SCALARS[scalar])
                })
                .collect();
            proptest::prop_assert_eq!(short_linear_combination(terms.to_vec()), Some(direct(&terms)));
        }
    }

    #[test]
    fn wider_windows_for_more_terms() {
        assert!(window_bits(16) < window_bits(256));
        assert!(window_bits(256) < window_bits(4_096));
    }
}
