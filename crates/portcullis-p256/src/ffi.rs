//! aws-lc's P-256 assembly (`p256-x86_64-asm.S`, `p256_beeu-x86_64-asm.S`), behind safe
//! wrappers: the only unsafe code of the workspace (decision 0020).
//!
//! These are the routines aws-lc's own ECDSA verification runs (`ecp_nistz256_points_mul_public`
//! in `p256-nistz.c`); each picks its BMI2/ADX or plain variant from the CPU flags aws-lc read
//! when it was initialised. Field elements are four little-endian 64-bit limbs in the Montgomery
//! domain (`a·2²⁵⁶ mod p`), fully reduced; scalars for `ord_mul_mont` likewise modulo the order
//! `n`. Every wrapper takes and returns values, so no pointer outlives its call and outputs never
//! alias inputs in a way the assembly does not allow (aws-lc itself passes the same point as
//! output and first input, as [`point_add_affine`] does here).
#![allow(unsafe_code)]

/// A point in Jacobian coordinates, Montgomery domain (`P256_POINT`); `z = 0` is infinity.
#[repr(C, align(32))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Point {
    pub(crate) x: [u64; 4],
    pub(crate) y: [u64; 4],
    pub(crate) z: [u64; 4],
}

/// A point in affine coordinates, Montgomery domain (`P256_POINT_AFFINE`); never infinity here.
#[repr(C, align(32))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Affine {
    pub(crate) x: [u64; 4],
    pub(crate) y: [u64; 4],
}

mod raw {
    use super::{Affine, Point};

    unsafe extern "C" {
        #[link_name = "aws_lc_0_47_0_ecp_nistz256_mul_mont"]
        pub(super) fn ecp_nistz256_mul_mont(res: *mut u64, a: *const u64, b: *const u64);
        #[link_name = "aws_lc_0_47_0_ecp_nistz256_sqr_mont"]
        pub(super) fn ecp_nistz256_sqr_mont(res: *mut u64, a: *const u64);
        #[link_name = "aws_lc_0_47_0_ecp_nistz256_neg"]
        pub(super) fn ecp_nistz256_neg(res: *mut u64, a: *const u64);
        #[link_name = "aws_lc_0_47_0_ecp_nistz256_ord_mul_mont"]
        pub(super) fn ecp_nistz256_ord_mul_mont(res: *mut u64, a: *const u64, b: *const u64);
        #[link_name = "aws_lc_0_47_0_beeu_mod_inverse_vartime"]
        pub(super) fn beeu_mod_inverse_vartime(out: *mut u64, a: *const u64, n: *const u64) -> i32;
        #[link_name = "aws_lc_0_47_0_ecp_nistz256_point_double"]
        pub(super) fn ecp_nistz256_point_double(r: *mut Point, a: *const Point);
        #[link_name = "aws_lc_0_47_0_ecp_nistz256_point_add"]
        pub(super) fn ecp_nistz256_point_add(r: *mut Point, a: *const Point, b: *const Point);
        #[link_name = "aws_lc_0_47_0_ecp_nistz256_point_add_affine"]
        pub(super) fn ecp_nistz256_point_add_affine(
            r: *mut Point,
            a: *const Point,
            b: *const Affine,
        );
    }
}

/// `a·b·2⁻²⁵⁶ mod p`.
pub(crate) fn mul_mont(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    let mut r = [0; 4];
    // SAFETY: three valid 4-limb buffers; `r` is written only.
    unsafe { raw::ecp_nistz256_mul_mont(r.as_mut_ptr(), a.as_ptr(), b.as_ptr()) };
    r
}

/// `a²·2⁻²⁵⁶ mod p`.
pub(crate) fn sqr_mont(a: &[u64; 4]) -> [u64; 4] {
    let mut r = [0; 4];
    // SAFETY: two valid 4-limb buffers; `r` is written only.
    unsafe { raw::ecp_nistz256_sqr_mont(r.as_mut_ptr(), a.as_ptr()) };
    r
}

/// `-a mod p`.
pub(crate) fn neg(a: &[u64; 4]) -> [u64; 4] {
    let mut r = [0; 4];
    // SAFETY: two valid 4-limb buffers; `r` is written only.
    unsafe { raw::ecp_nistz256_neg(r.as_mut_ptr(), a.as_ptr()) };
    r
}

/// `a·b·2⁻²⁵⁶ mod n`, for `a, b < n`.
pub(crate) fn ord_mul_mont(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    let mut r = [0; 4];
    // SAFETY: three valid 4-limb buffers; `r` is written only.
    unsafe { raw::ecp_nistz256_ord_mul_mont(r.as_mut_ptr(), a.as_ptr(), b.as_ptr()) };
    r
}

/// `a⁻¹ mod n` (not in the Montgomery domain), for `0 < a < n`; `None` if it does not exist.
pub(crate) fn inverse_mod_order(a: &[u64; 4], n: &[u64; 4]) -> Option<[u64; 4]> {
    let mut r = [0; 4];
    // SAFETY: three valid 4-limb buffers; `r` is written only.
    let ok = unsafe { raw::beeu_mod_inverse_vartime(r.as_mut_ptr(), a.as_ptr(), n.as_ptr()) };
    (ok == 1).then_some(r)
}

/// `2a`.
pub(crate) fn double(a: &Point) -> Point {
    let mut r = Point::default();
    // SAFETY: valid, aligned points; `r` is written only.
    unsafe { raw::ecp_nistz256_point_double(&mut r, a) };
    r
}

/// `a + b`, for any two points (equal ones and infinity included).
pub(crate) fn add(a: &Point, b: &Point) -> Point {
    let mut r = Point::default();
    // SAFETY: valid, aligned points; `r` is written only.
    unsafe { raw::ecp_nistz256_point_add(&mut r, a, b) };
    r
}

/// `a += b`, where `a` may be infinity but must not equal `b` (the assembly does not double).
pub(crate) fn add_affine(a: &mut Point, b: &Affine) {
    let a: *mut Point = a;
    // SAFETY: valid, aligned points; the output may be the first input (as in aws-lc's own use).
    unsafe { raw::ecp_nistz256_point_add_affine(a, a, b) };
}
