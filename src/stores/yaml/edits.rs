//! Replacements of byte ranges of the source, collected while splicing and applied at once. The
//! texts may hold decrypted values: they and the output are wiped when dropped.

use zeroize::Zeroizing;

use crate::stores::StoreError;

/// A replacement of `src[start..end]`.
struct Edit {
    start: usize,
    end: usize,
    text: Zeroizing<String>,
}

/// The replacements of one splice.
#[derive(Default)]
pub(super) struct Edits {
    list: Vec<Edit>,
}

impl Edits {
    pub(super) fn push(&mut self, start: usize, end: usize, text: impl Into<Zeroizing<String>>) {
        self.list.push(Edit {
            start,
            end,
            text: text.into(),
        });
    }

    /// `src` with the replacements applied. Overlapping ones are refused rather than dropped, so
    /// that a replacement (an encryption) can never be silently lost.
    pub(super) fn apply(mut self, src: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        self.list.sort_by_key(|e| (e.start, e.end));
        // The exact size up front: no reallocation (which would leave unwiped copies behind).
        let size = self.list.iter().fold(src.len(), |n, e| {
            (n + e.text.len()).saturating_sub(e.end.saturating_sub(e.start))
        });
        let mut out = Zeroizing::new(Vec::with_capacity(size));
        let mut pos = 0;
        for edit in &self.list {
            let (s, e, text) = (edit.start, edit.end, &edit.text);
            if s < pos || e < s || e > src.len() {
                return Err(StoreError::new(format!(
                    "overlapping YAML edits at {s}..{e} (after {pos})"
                )));
            }
            out.extend_from_slice(&src[pos..s]);
            out.extend_from_slice(text.as_bytes());
            pos = e;
        }
        out.extend_from_slice(&src[pos..]);
        Ok(out)
    }
}

/// The bytes out of their wrapper, without copying them.
pub(super) fn into_vec(mut bytes: Zeroizing<Vec<u8>>) -> Vec<u8> {
    std::mem::take(&mut *bytes)
}
