//! Buffers that may hold plaintext or key material, wiped when dropped: [`Wiped`].
//!
//! `zeroize::Zeroizing` wipes a `String` or a `Vec<u8>` by filling its bytes and its spare
//! capacity with zeroes, and does so even when the buffer holds no allocation at all. An empty
//! `String` or `Vec<u8>` points at the dangling address 1, and glibc's AVX-512 `memset` writes a
//! length of zero there with a masked store, which the processor completes only after a
//! micro-code assist for the unmapped page: about 67 ns a call on the development machine
//! against 2 ns for the same call on a mapped address. A file's values leave many such empty
//! buffers behind (every `ENC[...]` value a decryption left in the source, every ciphertext the
//! splice took, every plaintext the walk moved into its value): 19,000 of these calls in a
//! 10,000-value JSON decryption, about a tenth of its run (docs/performance.md, twenty-second
//! round). [`Wiped`] wipes exactly what `Zeroizing` wipes, and skips a buffer with nothing
//! allocated, which holds nothing to wipe.

use std::fmt;
use std::ops::{Deref, DerefMut};

use zeroize::Zeroize;

/// A buffer whose bytes are wiped when it is dropped (see the module's documentation): a
/// `String` or a `Vec<u8>`.
#[derive(Clone, Default, PartialEq)]
pub struct Wiped<T: Buffer>(T);

/// What [`Wiped`] can hold: a buffer that knows whether it holds an allocation.
pub trait Buffer: Zeroize {
    /// Whether there is memory behind the buffer (which may then hold bytes to wipe, in its
    /// length or its spare capacity).
    fn allocated(&self) -> bool;
}

impl Buffer for String {
    fn allocated(&self) -> bool {
        self.capacity() != 0
    }
}

impl Buffer for Vec<u8> {
    fn allocated(&self) -> bool {
        self.capacity() != 0
    }
}

impl<T: Buffer> Wiped<T> {
    /// Take `value` to wipe when dropped.
    pub fn new(value: T) -> Self {
        Wiped(value)
    }
}

impl<T: Buffer> Drop for Wiped<T> {
    fn drop(&mut self) {
        if self.0.allocated() {
            self.0.zeroize();
        }
    }
}

impl<T: Buffer> Zeroize for Wiped<T> {
    fn zeroize(&mut self) {
        if self.0.allocated() {
            self.0.zeroize();
        }
    }
}

impl<T: Buffer> zeroize::ZeroizeOnDrop for Wiped<T> {}

impl<T: Buffer> Deref for Wiped<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Buffer> DerefMut for Wiped<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Buffer> From<T> for Wiped<T> {
    fn from(value: T) -> Self {
        Wiped(value)
    }
}

impl<T: Buffer + fmt::Debug> fmt::Debug for Wiped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allocated_buffer_is_wiped_and_an_empty_one_left() {
        let mut text = Wiped::new(String::with_capacity(16));
        text.push_str("secret");
        assert!(text.allocated());
        text.zeroize();
        assert!(text.is_empty());
        // Zeroizing's wipe clears the length too; the capacity stays.
        assert!(text.capacity() >= 16);

        let mut empty: Wiped<Vec<u8>> = Wiped::default();
        assert!(!empty.allocated());
        empty.zeroize();
        assert!(empty.is_empty());
    }

    #[test]
    fn the_bytes_are_zero_after_the_wipe() {
        let mut bytes = Wiped::new(vec![0xa5u8; 40]);
        bytes.truncate(10);
        let at = bytes.as_ptr();
        bytes.zeroize();
        assert!(bytes.is_empty());
        // Every byte of the allocation, the length and the spare capacity, is zero.
        // SAFETY: `bytes` still owns its 40-byte allocation (a wipe keeps the capacity), and
        // every byte of it was written (by `vec!`, then by the wipe).
        let whole = unsafe { std::slice::from_raw_parts(at, 40) };
        assert!(whole.iter().all(|&b| b == 0));
    }
}
