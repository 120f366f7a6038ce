//! Shamir secret sharing of a 32-byte key over GF(2⁸), byte by byte.
//!
//! The field is GF(2)\[x\]/(x⁸ + x⁴ + x³ + x + 1) — the AES field (reduction
//! constant `0x1b`). Addition is XOR. Multiplication is the shift-and-add
//! "Russian peasant" loop with masks instead of branches or log/exp tables,
//! so its timing does not depend on the (secret) operands; inversion is
//! `a²⁵⁴` by a fixed square-and-multiply chain, likewise constant-time.
//!
//! Each of the 32 key bytes gets its own random polynomial of degree
//! `threshold − 1` whose constant term is that byte; share `x` (1..=255) is
//! the polynomial evaluated at `x`. Any `threshold` shares give the secret by
//! Lagrange interpolation at 0; fewer give no information at all (for every
//! candidate secret there is exactly one polynomial through the shares seen —
//! tested exhaustively below for one share of a 2-of-n scheme).

use zeroize::{Zeroize, Zeroizing};

/// Length of the shared secret (an XChaCha20-Poly1305 key).
pub(crate) const SECRET_LEN: usize = 32;

/// Product in GF(2⁸), constant-time.
#[inline]
pub(crate) fn mul(a: u8, b: u8) -> u8 {
    let mut a = a;
    let mut b = b;
    let mut product = 0u8;
    for _ in 0..8 {
        // Add `a` if the low bit of `b` is set (mask is 0x00 or 0xff).
        product ^= a & 0u8.wrapping_sub(b & 1);
        // a ·= x, reducing modulo the field polynomial if bit 7 falls out.
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1b & carry);
        b >>= 1;
    }
    product
}

/// Multiplicative inverse in GF(2⁸) as `a²⁵⁴`; maps 0 to 0. Constant-time.
#[inline]
pub(crate) fn inv(a: u8) -> u8 {
    // 254 = 0b1111_1110: a^254 = a^2 · a^4 · … · a^128.
    let mut square = mul(a, a); // a^2
    let mut result = square;
    for _ in 0..6 {
        square = mul(square, square); // a^4, a^8, …, a^128
        result = mul(result, square);
    }
    result
}

/// Share `secret` among the share indices `xs` (distinct, non-zero) with
/// threshold `coefficients.len() + 1`. `coefficients` must be uniformly
/// random and secret; the caller zeroizes them.
pub(crate) fn split(
    secret: &[u8; SECRET_LEN],
    coefficients: &[[u8; SECRET_LEN]],
    xs: &[u8],
) -> Vec<[u8; SECRET_LEN]> {
    debug_assert!(xs.iter().all(|&x| x != 0), "x = 0 would reveal the secret");
    xs.iter()
        .map(|&x| {
            let mut y = [0u8; SECRET_LEN];
            for (byte, out) in y.iter_mut().enumerate() {
                // Horner: ((c_{k-1}·x + c_{k-2})·x + … + c_1)·x + secret
                let mut acc = 0u8;
                for c in coefficients.iter().rev() {
                    acc = mul(acc ^ c[byte], x);
                }
                *out = acc ^ secret[byte];
            }
            y
        })
        .collect()
}

/// Why interpolation was refused (only reachable through a caller bug or a
/// crafted share set; the format limits indices to 1..=3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InterpolationError {
    /// An x-coordinate of 0 (that would be the secret itself).
    ZeroIndex,
    /// The same x-coordinate twice.
    DuplicateIndex(u8),
}

/// Lagrange interpolation at 0 from `(x, y)` points with distinct non-zero x:
/// the secret. With fewer points than the threshold the result is a
/// uniformly random value unrelated to the secret, so callers must
/// authenticate it (here: the AEAD tag does).
pub(crate) fn combine(
    points: &[(u8, &[u8; SECRET_LEN])],
) -> Result<Zeroizing<[u8; SECRET_LEN]>, InterpolationError> {
    interpolate(points, 0)
}

/// The polynomial through `points` (distinct non-zero x) evaluated at `x`:
/// the secret at 0, or the share another index should hold.
pub(crate) fn interpolate(
    points: &[(u8, &[u8; SECRET_LEN])],
    x: u8,
) -> Result<Zeroizing<[u8; SECRET_LEN]>, InterpolationError> {
    for (i, &(xi, _)) in points.iter().enumerate() {
        if xi == 0 {
            return Err(InterpolationError::ZeroIndex);
        }
        if points[..i].iter().any(|&(xj, _)| xj == xi) {
            return Err(InterpolationError::DuplicateIndex(xi));
        }
    }
    let mut out = Zeroizing::new([0u8; SECRET_LEN]);
    for (i, &(xi, yi)) in points.iter().enumerate() {
        // Lagrange basis at x: ∏_{j≠i} (x − x_j) / (x_i − x_j); − is ⊕ here.
        let mut basis = 1u8;
        for (j, &(xj, _)) in points.iter().enumerate() {
            if i != j {
                basis = mul(basis, mul(x ^ xj, inv(xi ^ xj)));
            }
        }
        for (o, &y) in out.iter_mut().zip(yi.iter()) {
            *o ^= mul(y, basis);
        }
    }
    Ok(out)
}

/// Zeroize a set of polynomial coefficients.
pub(crate) fn wipe(coefficients: &mut [[u8; SECRET_LEN]]) {
    for c in coefficients {
        c.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent reference: carry-less multiply then reduce by 0x11b.
    fn mul_reference(a: u8, b: u8) -> u8 {
        let mut wide: u16 = 0;
        for bit in 0..8 {
            if b >> bit & 1 == 1 {
                wide ^= u16::from(a) << bit;
            }
        }
        for bit in (8..16).rev() {
            if wide >> bit & 1 == 1 {
                wide ^= 0x11b << (bit - 8);
            }
        }
        u8::try_from(wide).expect("reduced below 2^8")
    }

    #[test]
    fn mul_matches_reference_for_all_pairs() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                assert_eq!(mul(a, b), mul_reference(a, b), "{a} * {b}");
                assert_eq!(mul(a, b), mul(b, a));
            }
        }
        // FIPS-197 §4.2 worked example: {57} • {83} = {c1}.
        assert_eq!(mul(0x57, 0x83), 0xc1);
        assert_eq!(mul(0x57, 0x13), 0xfe);
    }

    #[test]
    fn field_axioms_exhaustive_on_a_stride() {
        // All 2^24 triples are slow in debug builds; every `a` against strided
        // `b` and `c` (256 · 86 · 52 ≈ 1.1 million triples) is plenty next to
        // the exhaustive comparison with the reference multiplication.
        for a in 0..=255u8 {
            for b in (0..=255u8).step_by(3) {
                for c in (0..=255u8).step_by(5) {
                    assert_eq!(mul(mul(a, b), c), mul(a, mul(b, c)));
                    assert_eq!(mul(a, b ^ c), mul(a, b) ^ mul(a, c));
                }
            }
            assert_eq!(mul(a, 1), a);
            assert_eq!(mul(a, 0), 0);
        }
    }

    #[test]
    fn inverse_of_every_nonzero_element() {
        assert_eq!(inv(0), 0);
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1, "a = {a}");
        }
        // 3 generates the multiplicative group: its powers hit all 255 values.
        let mut seen = [false; 256];
        let mut p = 1u8;
        for _ in 0..255 {
            seen[usize::from(p)] = true;
            p = mul(p, 3);
        }
        assert_eq!(p, 1);
        assert_eq!(seen.iter().filter(|&&s| s).count(), 255);
    }

    #[test]
    fn every_secret_byte_and_coefficient_round_trips_through_every_pair() {
        let xs = [1u8, 2, 3];
        for s in 0..=255u8 {
            for a in 0..=255u8 {
                let shares = split(&[s; 32], &[[a; 32]], &xs);
                for (i, j) in [(0, 1), (0, 2), (1, 2)] {
                    let got = combine(&[(xs[i], &shares[i]), (xs[j], &shares[j])])
                        .expect("distinct non-zero xs");
                    assert_eq!(got[0], s);
                    assert_eq!(got[31], s);
                }
                // All three shares interpolate to the same (degree-1) answer.
                let all = combine(&[(1, &shares[0]), (2, &shares[1]), (3, &shares[2])])
                    .expect("distinct");
                assert_eq!(all[5], s);
            }
        }
    }

    #[test]
    fn one_share_is_perfectly_hiding() {
        // For each share index x and each observed share value y, every
        // candidate secret s is consistent with exactly one coefficient a:
        // y = s ⊕ a·x. So y's distribution is uniform whatever s is.
        for x in 1..=3u8 {
            for s in 0..=255u8 {
                let mut hits = [0u16; 256];
                for a in 0..=255u8 {
                    hits[usize::from(split(&[s; 32], &[[a; 32]], &[x])[0][0])] += 1;
                }
                assert!(hits.iter().all(|&h| h == 1), "x={x} s={s}");
            }
        }
    }

    #[test]
    fn interpolation_predicts_the_missing_share() {
        let secret = [0x42u8; 32];
        let shares = split(&secret, &[[0x99; 32]], &[1, 2, 3]);
        for (i, j, k) in [(0, 1, 2), (0, 2, 1), (1, 2, 0)] {
            let xs = [1u8, 2, 3];
            let at = interpolate(&[(xs[i], &shares[i]), (xs[j], &shares[j])], xs[k]).expect("ok");
            assert_eq!(*at, shares[k]);
        }
    }

    #[test]
    fn higher_thresholds_work_too() {
        // Not used by the 2-of-3 format, but keeps the interpolation honest.
        let secret: [u8; 32] = core::array::from_fn(|i| u8::try_from(i * 7 + 1).expect("small"));
        let coeffs = [[0x5a; 32], [0xc3; 32]]; // threshold 3
        let xs = [1u8, 2, 3, 4, 5];
        let shares = split(&secret, &coeffs, &xs);
        let got = combine(&[(2, &shares[1]), (5, &shares[4]), (3, &shares[2])]).expect("ok");
        assert_eq!(*got, secret);
        let too_few = combine(&[(2, &shares[1]), (5, &shares[4])]).expect("ok");
        assert_ne!(*too_few, secret);
    }

    #[test]
    fn bad_points_are_refused() {
        let y = [0u8; 32];
        assert_eq!(
            combine(&[(0, &y), (1, &y)]).map(|_| ()),
            Err(InterpolationError::ZeroIndex)
        );
        assert_eq!(
            combine(&[(2, &y), (2, &y)]).map(|_| ()),
            Err(InterpolationError::DuplicateIndex(2))
        );
    }
}
