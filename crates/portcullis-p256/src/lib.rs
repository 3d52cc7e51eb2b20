//! ES256 (ECDSA over P-256 with SHA-256) verification with a table of precomputed multiples
//! per public key (decision 0020).
//!
//! aws-lc verifies a signature by computing `u1·G + u2·Q`: the generator `G` from a table of
//! multiples built once (37 windows of 7 bits, 64 affine points each: 37 additions), the
//! public key `Q` by 5-bit windows from scratch (255 doublings and about 67 additions), so that
//! most of a verification is spent on `Q`. A client signs thousands of assertions with one
//! key; [`Verifier`] builds the same kind of table for `Q` once (about 148 KiB, a millisecond or
//! two), after which both products cost 37 mixed additions each. Everything else is aws-lc's own
//! verification, step by step, with its own assembly ([`ffi`]): the range checks of `r` and
//! `s`, `s⁻¹` by its binary extended Euclid, the products modulo the order, the comparison of
//! `x` in projective coordinates (including `r + n`).
//!
//! Verification handles only public values, so nothing here needs to run in constant time.
//! The tests compare every answer with aws-lc's own verification, valid signatures and each
//! kind of invalid one; a fuzz target does the same with arbitrary inputs.

#[cfg(target_arch = "x86_64")]
mod ffi;

#[cfg(target_arch = "x86_64")]
mod table;

#[cfg(target_arch = "x86_64")]
pub use table::Verifier;

/// Where the assembly is not available there is no verifier (the type has no value), so
/// callers keep aws-lc's verification.
#[cfg(not(target_arch = "x86_64"))]
#[derive(Debug)]
pub enum Verifier {}

#[cfg(not(target_arch = "x86_64"))]
impl Verifier {
    /// Always `None` on this architecture.
    pub fn new(_point: &[u8; 65]) -> Option<Self> {
        None
    }

    /// Cannot be called: there is no verifier to call it on.
    pub fn verify(&self, _message: &[u8], _signature: &[u8]) -> bool {
        match *self {}
    }
}

/// Windows of 7 bits over a 256-bit scalar (Booth-recoded, as aws-lc does for `G`).
const WINDOWS: usize = 37;
/// Multiples per window: the digits 1 to 64 (a digit's sign negates `y`).
const DIGITS: usize = 64;

/// Bytes of one table: an affine point is 64 bytes.
pub const TABLE_BYTES: usize = WINDOWS * DIGITS * 64;
