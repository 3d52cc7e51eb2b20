//! The tables and the verification (x86-64: aws-lc's assembly, [`crate::ffi`]).

use std::sync::LazyLock;

use aws_lc_rs::digest::{SHA256, digest};

use crate::ffi::{self, Affine, Point};

/// The field prime `p`, little-endian limbs.
const P: [u64; 4] = [
    0xffff_ffff_ffff_ffff,
    0x0000_0000_ffff_ffff,
    0x0000_0000_0000_0000,
    0xffff_ffff_0000_0001,
];
/// The group order `n`.
const N: [u64; 4] = [
    0xf3b9_cac2_fc63_2551,
    0xbce6_faad_a717_9e84,
    0xffff_ffff_ffff_ffff,
    0xffff_ffff_0000_0000,
];
/// `2⁵¹² mod p`: [`ffi::mul_mont`] by it enters the Montgomery domain.
const RR_P: [u64; 4] = [
    0x0000_0000_0000_0003,
    0xffff_fffb_ffff_ffff,
    0xffff_ffff_ffff_fffe,
    0x0000_0004_ffff_fffd,
];
/// `2⁵¹² mod n`, likewise for [`ffi::ord_mul_mont`].
const RR_N: [u64; 4] = [
    0x8324_4c95_be79_eea2,
    0x4699_799c_49bd_6fa6,
    0x2845_b239_2b6b_ec59,
    0x66e1_2d94_f3d9_5620,
];
/// 1 (leaving the Montgomery domain: `mul_mont(a, 1) = a·2⁻²⁵⁶`).
const ONE: [u64; 4] = [1, 0, 0, 0];
/// 1 in the Montgomery domain (`2²⁵⁶ mod p`).
const ONE_MONT: [u64; 4] = [
    0x0000_0000_0000_0001,
    0xffff_ffff_0000_0000,
    0xffff_ffff_ffff_ffff,
    0x0000_0000_ffff_fffe,
];
/// The curve's `b`, big-endian (SEC 2 §2.4.2).
const B: [u8; 32] = hex32("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b");
/// The generator, big-endian.
const GX: [u8; 32] = hex32("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
const GY: [u8; 32] = hex32("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");

use crate::{DIGITS, WINDOWS};

// `crate::TABLE_BYTES` counts 64 bytes per point.
const _: () = assert!(size_of::<Affine>() == 64);

/// The multiples `d·2⁷ⁱ·Q` of one point, affine: `d·2⁷ⁱ·Q` at `i·DIGITS + d − 1`.
struct Table(Vec<Affine>);

/// `G`'s table, built on first use (`None` only if the constants above were wrong, which the
/// tests would show).
static G: LazyLock<Option<Table>> =
    LazyLock::new(|| to_affine_mont(&GX, &GY).and_then(|g| Table::of(&g)));

/// Verifies ES256 signatures made with one public key, from a table of its multiples.
pub struct Verifier {
    g: &'static Table,
    table: Table,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

impl Verifier {
    /// The verifier of the public key `point` (uncompressed: `04 ‖ x ‖ y`, big-endian); `None`
    /// if that is not a point of the curve (or a coordinate is not below `p`).
    pub fn new(point: &[u8; 65]) -> Option<Self> {
        // aws-lc is initialised (its CPU flags read) before its assembly is called.
        aws_lc_rs::init();
        let (&tag, xy) = point.split_first()?;
        let (x, y) = xy.split_at(32);
        let q = (tag == 4).then(|| to_affine_mont(x, y))??;
        Some(Self {
            g: G.as_ref()?,
            table: Table::of(&q)?,
        })
    }

    /// Whether `signature` (`r ‖ s`, 32 bytes each, big-endian: JWS's ES256 format) is a
    /// signature of `message` by this key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        if signature.len() != 64 {
            return false;
        }
        let (r, s) = (limbs(&signature[..32]), limbs(&signature[32..]));
        if is_zero(&r) || !less(&r, &N) || is_zero(&s) || !less(&s, &N) {
            return false;
        }
        let mut e = limbs(digest(&SHA256, message).as_ref());
        if !less(&e, &N) {
            e = sub(&e, &N).0;
        }
        let Some(w) = ffi::inverse_mod_order(&s, &N) else {
            return false;
        };
        let w = ffi::ord_mul_mont(&w, &RR_N); // s⁻¹·2²⁵⁶ mod n
        let u1 = ffi::ord_mul_mont(&e, &w); // e·s⁻¹ mod n
        let u2 = ffi::ord_mul_mont(&r, &w); // r·s⁻¹ mod n
        let point = ffi::add(&self.g.mul(&u1), &self.table.mul(&u2));
        x_is(&point, &r)
    }
}

impl Table {
    /// The table of `q` (affine, Montgomery domain), or `None` if a multiple came out as
    /// infinity (which a point of the curve other than infinity cannot give).
    fn of(q: &Affine) -> Option<Self> {
        let mut jacobian = Vec::with_capacity(WINDOWS * DIGITS);
        let mut base = Point {
            x: q.x,
            y: q.y,
            z: ONE_MONT,
        };
        for _ in 0..WINDOWS {
            // base·1 … base·64, then the next window's base: 2·(64·base) = 2⁷·base.
            jacobian.push(base);
            let mut multiple = ffi::double(&base);
            jacobian.push(multiple);
            for _ in 2..DIGITS {
                multiple = ffi::add(&multiple, &base);
                jacobian.push(multiple);
            }
            base = ffi::double(&multiple);
        }
        // To affine, with one inversion for all (Montgomery's trick): prefix[i] = z₀⋯zᵢ.
        let mut prefix = Vec::with_capacity(jacobian.len());
        let mut product = ONE_MONT;
        for point in &jacobian {
            if is_zero(&point.z) {
                return None;
            }
            product = ffi::mul_mont(&product, &point.z);
            prefix.push(product);
        }
        let mut inverse = invert(&product);
        let mut affine = vec![Affine::default(); jacobian.len()];
        for i in (0..jacobian.len()).rev() {
            let z_inverse = match i {
                0 => inverse,
                _ => ffi::mul_mont(&inverse, &prefix[i - 1]),
            };
            inverse = ffi::mul_mont(&inverse, &jacobian[i].z);
            let z2 = ffi::sqr_mont(&z_inverse);
            let z3 = ffi::mul_mont(&z2, &z_inverse);
            affine[i] = Affine {
                x: ffi::mul_mont(&jacobian[i].x, &z2),
                y: ffi::mul_mont(&jacobian[i].y, &z3),
            };
        }
        Some(Self(affine))
    }

    /// `k·Q` for a scalar `k < n`: one affine addition per nonzero Booth digit of 7 bits, as
    /// aws-lc computes `u1·G` (`ecp_nistz256_points_mul_public`).
    ///
    /// The mixed addition cannot double, so it must never meet two equal points: before window
    /// `i` the sum is `k'·Q` with `|k'| < 2⁷ⁱ`, and the term is `d·2⁷ⁱ·Q` with `1 ≤ |d| ≤ 64`, so
    /// the two differ unless their difference is a multiple of `n`, which their sizes exclude
    /// for every window but the last (there the term can exceed `n`). The last window is
    /// therefore added with the full addition, which doubles when it has to.
    fn mul(&self, k: &[u64; 4]) -> Point {
        let mut bytes = [0u8; 33];
        for (chunk, limb) in bytes.chunks_exact_mut(8).zip(k) {
            chunk.copy_from_slice(&limb.to_le_bytes());
        }
        let mut sum = Point::default(); // infinity
        for (i, window) in self.0.chunks_exact(DIGITS).enumerate() {
            let digit = match i {
                0 => booth((usize::from(bytes[0]) << 1) & 0xff),
                _ => {
                    let bit = 7 * i - 1;
                    let pair = usize::from(bytes[bit / 8]) | usize::from(bytes[bit / 8 + 1]) << 8;
                    booth((pair >> (bit % 8)) & 0xff)
                }
            };
            let magnitude = digit >> 1;
            if magnitude == 0 {
                continue;
            }
            let mut term = window[magnitude - 1];
            if digit & 1 == 1 {
                term.y = ffi::neg(&term.y);
            }
            if i + 1 < WINDOWS {
                ffi::add_affine(&mut sum, &term);
            } else {
                let term = Point {
                    x: term.x,
                    y: term.y,
                    z: ONE_MONT,
                };
                sum = ffi::add(&sum, &term);
            }
        }
        sum
    }
}

/// aws-lc's `booth_recode_w7`: a window of 8 bits (7 and the one below) to `|d| << 1 | sign`.
fn booth(window: usize) -> usize {
    let sign = !((window >> 7).wrapping_sub(1));
    let flipped = (1 << 8) - window - 1;
    let d = (flipped & sign) | (window & !sign);
    let d = (d >> 1) + (d & 1);
    (d << 1) + (sign & 1)
}

/// Whether the affine `x` of `point` is `r` (or `r + n`, when that is below `p`), compared as
/// `X = r·Z²` without an inversion (aws-lc's `ecp_nistz256_cmp_x_coordinate`).
fn x_is(point: &Point, r: &[u64; 4]) -> bool {
    if is_zero(&point.z) {
        return false;
    }
    let z2 = ffi::sqr_mont(&point.z);
    let x = ffi::mul_mont(&point.x, &ONE);
    if ffi::mul_mont(r, &z2) == x {
        return true;
    }
    let (r_plus_n, carry) = add(r, &N);
    !carry && less(&r_plus_n, &P) && ffi::mul_mont(&r_plus_n, &z2) == x
}

/// The point `(x, y)` (big-endian) in the Montgomery domain, if it is on the curve
/// `y² = x³ − 3x + b` with both coordinates below `p`.
fn to_affine_mont(x: &[u8], y: &[u8]) -> Option<Affine> {
    let (x, y) = (limbs(x), limbs(y));
    if !less(&x, &P) || !less(&y, &P) {
        return None;
    }
    let (x, y) = (ffi::mul_mont(&x, &RR_P), ffi::mul_mont(&y, &RR_P));
    let b = ffi::mul_mont(&limbs(&B), &RR_P);
    let x3 = ffi::mul_mont(&ffi::sqr_mont(&x), &x);
    let three_x = add_mod_p(&add_mod_p(&x, &x), &x);
    let right = add_mod_p(&add_mod_p(&x3, &ffi::neg(&three_x)), &b);
    (ffi::sqr_mont(&y) == right).then_some(Affine { x, y })
}

/// `a⁻¹` in the Montgomery domain, as `a^(p−2)` (for building tables only).
fn invert(a: &[u64; 4]) -> [u64; 4] {
    let exponent = sub(&P, &[2, 0, 0, 0]).0;
    let mut result = ONE_MONT;
    for bit in (0..256).rev() {
        result = ffi::sqr_mont(&result);
        if exponent[bit / 64] >> (bit % 64) & 1 == 1 {
            result = ffi::mul_mont(&result, a);
        }
    }
    result
}

/// `a + b mod p`, for `a, b < p`.
fn add_mod_p(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    let (sum, carry) = add(a, b);
    if carry || !less(&sum, &P) {
        sub(&sum, &P).0
    } else {
        sum
    }
}

/// 32 big-endian bytes to little-endian limbs.
fn limbs(bytes: &[u8]) -> [u64; 4] {
    debug_assert_eq!(bytes.len(), 32);
    let mut limbs = [0; 4];
    for (i, chunk) in bytes.rchunks_exact(8).enumerate() {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        limbs[i] = u64::from_be_bytes(word);
    }
    limbs
}

fn is_zero(a: &[u64; 4]) -> bool {
    a.iter().all(|&l| l == 0)
}

/// `a < b`.
fn less(a: &[u64; 4], b: &[u64; 4]) -> bool {
    a.iter().rev().lt(b.iter().rev())
}

/// `a + b` and its carry.
fn add(a: &[u64; 4], b: &[u64; 4]) -> ([u64; 4], bool) {
    let mut sum = [0; 4];
    let mut carry = false;
    for i in 0..4 {
        let (s, c1) = a[i].overflowing_add(b[i]);
        let (s, c2) = s.overflowing_add(u64::from(carry));
        sum[i] = s;
        carry = c1 || c2;
    }
    (sum, carry)
}

/// `a − b` and its borrow.
fn sub(a: &[u64; 4], b: &[u64; 4]) -> ([u64; 4], bool) {
    let mut difference = [0; 4];
    let mut borrow = false;
    for i in 0..4 {
        let (d, b1) = a[i].overflowing_sub(b[i]);
        let (d, b2) = d.overflowing_sub(u64::from(borrow));
        difference[i] = d;
        borrow = b1 || b2;
    }
    (difference, borrow)
}

/// 64 hexadecimal digits to 32 bytes, at compile time.
const fn hex32(text: &str) -> [u8; 32] {
    const fn digit(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a hexadecimal digit"),
        }
    }
    let text = text.as_bytes();
    assert!(text.len() == 64);
    let mut out = [0; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = digit(text[2 * i]) << 4 | digit(text[2 * i + 1]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests;
