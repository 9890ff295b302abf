//! Byte-level helpers that every text store splices with: edits applied to the source bytes,
//! line arithmetic, and output buffers that never leave an unwiped copy of plaintext behind.

use super::StoreError;
use crate::wipe::Wiped;

/// A replacement of `source[start..end]` by `text`.
pub(crate) struct Edit {
    pub start: usize,
    pub end: usize,
    pub text: Wiped<Vec<u8>>,
}

impl Edit {
    /// Replace `start..end` by `text` (a `String` or `Vec<u8>` is moved in, not copied).
    pub fn replace(start: usize, end: usize, text: impl Into<Vec<u8>>) -> Edit {
        Edit {
            start,
            end,
            text: Wiped::new(text.into()),
        }
    }

    /// Remove `start..end`.
    pub fn delete(start: usize, end: usize) -> Edit {
        Edit {
            start,
            end,
            text: Wiped::new(Vec::new()),
        }
    }
}

/// Apply non-overlapping edits (any order) to `src`. Overlaps are refused rather than dropped,
/// so that a replacement (an encryption) can never be silently lost.
pub(crate) fn apply_edits(src: &[u8], edits: &mut [Edit]) -> Result<Wiped<Vec<u8>>, StoreError> {
    edits.sort_by_key(|e| (e.start, e.end));
    // The exact size up front: no reallocation (which would leave unwiped copies behind).
    let size = edits.iter().fold(src.len(), |n, e| {
        (n + e.text.len()).saturating_sub(e.end.saturating_sub(e.start))
    });
    let mut out = Wiped::new(Vec::with_capacity(size));
    let mut pos = 0;
    for e in edits.iter() {
        if e.start < pos || e.end < e.start || e.end > src.len() {
            return Err(StoreError::new(
                "internal error: overlapping edits while writing the file",
            ));
        }
        out.extend_from_slice(&src[pos..e.start]);
        out.extend_from_slice(&e.text);
        pos = e.end;
    }
    out.extend_from_slice(&src[pos..]);
    Ok(out)
}

/// The bytes out of their wrapper without copying them.
pub(crate) fn into_vec(mut bytes: Wiped<Vec<u8>>) -> Vec<u8> {
    std::mem::take(&mut *bytes)
}

/// `buffer` with room for `additional` more bytes. Growing moves the bytes to a new allocation of
/// the exact size; the old one is wiped as it is dropped (a plain `reserve` would leave it as is).
pub(crate) fn with_room(buffer: Wiped<Vec<u8>>, additional: usize) -> Wiped<Vec<u8>> {
    if buffer.capacity() - buffer.len() >= additional {
        return buffer;
    }
    let mut grown = Wiped::new(Vec::with_capacity(buffer.len() + additional));
    grown.extend_from_slice(&buffer);
    grown
}

/// 1-based line of byte offset `pos`.
pub(crate) fn line_of(src: &[u8], pos: usize) -> usize {
    src[..pos.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line range (line break included) holding byte `pos` of `src`.
pub(crate) fn line_range(src: &[u8], pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let start = src[..pos]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let end = src[pos..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(src.len(), |p| pos + p + 1);
    (start, end)
}

/// Does the file's first line end in CRLF?
pub(crate) fn uses_crlf(src: &[u8]) -> bool {
    src.iter()
        .position(|&b| b == b'\n')
        .is_some_and(|p| p > 0 && src[p - 1] == b'\r')
}

/// The line break new lines get in `src`: the one its first line ends with.
pub(crate) fn line_break_of(src: &[u8]) -> &'static str {
    if uses_crlf(src) {
        "\r\n"
    } else {
        "\n"
    }
}

/// Edits removing whole-line ranges; a removed last line without a line break also takes the
/// line break before it.
pub(crate) fn remove_lines(src: &[u8], ranges: &[(usize, usize)], edits: &mut Vec<Edit>) {
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for &(start, end) in ranges {
        match merged.last_mut() {
            Some(last) if last.1 == start => last.1 = end,
            _ => merged.push((start, end)),
        }
    }
    for (mut start, end) in merged {
        if end == src.len() && !src[..end].ends_with(b"\n") && start > 0 && src[start - 1] == b'\n'
        {
            start -= 1;
        }
        edits.push(Edit::delete(start, end));
    }
}
