//! Replacements of byte ranges of the source, collected while splicing and applied at once (a
//! large output in two halves, on two threads). The texts may hold decrypted values: they and the
//! output are wiped when dropped.

use crate::stores::StoreError;
use crate::wipe::Wiped;

/// A replacement of `src[start..end]`.
struct Edit<'t> {
    start: usize,
    end: usize,
    text: Text<'t>,
}

/// The text of a replacement.
enum Text<'t> {
    /// `texts[chunk][from..to]`.
    Kept {
        chunk: usize,
        from: usize,
        to: usize,
    },
    /// A text that outlives the splice (a ciphertext or a decrypted value of the changes, each
    /// wiped where it is kept): not copied.
    Lent(&'t str),
}

/// The replacements of one splice. Their texts are lent, or copied into a few large buffers,
/// each filled and never grown (growing one would leave an unwiped copy behind), instead of one
/// allocation per replacement kept alive until the output is assembled.
#[derive(Default)]
pub(super) struct Edits<'t> {
    list: Vec<Edit<'t>>,
    texts: Vec<Wiped<String>>,
}

/// The first text buffer's size; each next one is twice the last, up to [`MAX_CHUNK`].
const FIRST_CHUNK: usize = 4 << 10;
const MAX_CHUNK: usize = 1 << 20;

impl<'t> Edits<'t> {
    /// Room for `n` replacements (a splice knows how many leaves change: no list grown to
    /// twice what it needs).
    pub(super) fn with_capacity(n: usize) -> Self {
        Edits {
            list: Vec::with_capacity(n),
            texts: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, start: usize, end: usize, text: impl Into<Wiped<String>>) {
        let text: Wiped<String> = text.into();
        self.push_parts(start, end, &[&text]);
    }

    /// [`Edits::push`] of the text made of `parts`, copied where it is kept (no string is made
    /// for it).
    pub(super) fn push_parts(&mut self, start: usize, end: usize, parts: &[&str]) {
        let len = parts.iter().map(|p| p.len()).sum::<usize>();
        let fits = self
            .texts
            .last()
            .is_some_and(|t| t.capacity() - t.len() >= len);
        if !fits {
            let size = self
                .texts
                .last()
                .map_or(FIRST_CHUNK, |t| (2 * t.capacity()).min(MAX_CHUNK));
            self.texts
                .push(Wiped::new(String::with_capacity(size.max(len))));
        }
        let chunk = self.texts.len() - 1;
        let Some(buffer) = self.texts.last_mut() else {
            return;
        };
        let from = buffer.len();
        for part in parts {
            buffer.push_str(part);
        }
        self.list.push(Edit {
            start,
            end,
            text: Text::Kept {
                chunk,
                from,
                to: buffer.len(),
            },
        });
    }

    /// [`Edits::push`] of a text that lives as long as the edits: it is not copied.
    pub(super) fn push_lent(&mut self, start: usize, end: usize, text: &'t str) {
        self.list.push(Edit {
            start,
            end,
            text: Text::Lent(text),
        });
    }

    fn text(&self, edit: &Edit<'t>) -> &[u8] {
        match edit.text {
            Text::Kept { chunk, from, to } => self
                .texts
                .get(chunk)
                .and_then(|t| t.as_bytes().get(from..to))
                .unwrap_or_default(),
            Text::Lent(t) => t.as_bytes(),
        }
    }

    /// `src` with the replacements applied. Overlapping ones are refused rather than dropped, so
    /// that a replacement (an encryption) can never be silently lost.
    pub(super) fn apply(self, src: &[u8]) -> Result<Wiped<Vec<u8>>, StoreError> {
        self.apply_from(src, crate::stores::TWO_THREADS_FROM)
    }

    /// Whether [`Edits::apply`] would give exactly `expected`, told piece by piece without making
    /// it (no piece is compared after the first that differs).
    pub(super) fn is(&mut self, src: &[u8], expected: &[u8]) -> Result<bool, StoreError> {
        self.order(src)?;
        let mut rest = expected;
        let mut same = true;
        self.write(&self.list, src, 0..src.len(), &mut |piece| {
            same = same && rest.get(..piece.len()) == Some(piece);
            rest = rest.get(piece.len()..).unwrap_or_default();
        });
        Ok(same && rest.is_empty())
    }

    /// Sort the replacements by where they are (leaves are spliced in file order: most lists
    /// need no sort, nor its scratch space, a third of the list's size), and refuse overlapping
    /// ones.
    fn order(&mut self, src: &[u8]) -> Result<(), StoreError> {
        if !self.list.is_sorted_by_key(|e| (e.start, e.end)) {
            self.list.sort_by_key(|e| (e.start, e.end));
        }
        let mut pos = 0;
        for edit in &self.list {
            let (s, e) = (edit.start, edit.end);
            if s < pos || e < s || e > src.len() {
                return Err(StoreError::new(format!(
                    "overlapping YAML edits at {s}..{e} (after {pos})"
                )));
            }
            pos = e;
        }
        Ok(())
    }

    /// [`Edits::apply`], the output written in two halves on two threads when it is at least
    /// `two_from` bytes.
    fn apply_from(mut self, src: &[u8], two_from: usize) -> Result<Wiped<Vec<u8>>, StoreError> {
        self.order(src)?;
        // `len` bytes of the source with `list` (replacements within them) applied: how many.
        let length_after = |len: usize, list: &[Edit<'t>]| {
            list.iter().fold(len, |n, e| {
                (n + self.text(e).len()).saturating_sub(e.end - e.start)
            })
        };
        // The exact size up front: no reallocation (which would leave unwiped copies behind).
        let size = length_after(src.len(), &self.list);
        if size < two_from || self.list.len() < 2 {
            let mut out = Wiped::new(Vec::with_capacity(size));
            self.write(&self.list, src, 0..src.len(), &mut |piece| {
                out.extend_from_slice(piece)
            });
            return Ok(out);
        }
        // A large output's pages are first written (and so faulted in) on both cores: the
        // zeroed buffer comes from the allocator untouched, and each half is written once. The
        // halves meet at the start of the middle replacement.
        let half = self.list.len() / 2;
        let at = self.list[half].start;
        let out_at = length_after(at, &self.list[..half]);
        let mut out = Wiped::new(vec![0u8; size]);
        let (first, second) = out.split_at_mut(out_at.min(size));
        let (before, after) = self.list.split_at(half);
        let this = &self;
        std::thread::scope(|scope| {
            crate::threads::spawn_scoped(scope, || {
                this.write_into(second, after, src, at..src.len())
            });
            this.write_into(first, before, src, 0..at);
        });
        Ok(out)
    }

    /// Hand `write` the pieces of `src[range]` with `list` (the replacements within it, in
    /// order) applied.
    fn write(
        &self,
        list: &[Edit<'t>],
        src: &[u8],
        range: std::ops::Range<usize>,
        write: &mut impl FnMut(&[u8]),
    ) {
        let mut pos = range.start;
        for edit in list {
            write(&src[pos..edit.start]);
            write(self.text(edit));
            pos = edit.end;
        }
        write(&src[pos..range.end]);
    }

    /// [`Edits::write`] into `out`, which it fills exactly.
    fn write_into(
        &self,
        out: &mut [u8],
        list: &[Edit<'t>],
        src: &[u8],
        range: std::ops::Range<usize>,
    ) {
        let mut at = 0;
        self.write(list, src, range, &mut |piece| {
            if let Some(place) = out.get_mut(at..at + piece.len()) {
                place.copy_from_slice(piece);
            }
            at += piece.len();
        });
    }
}

/// The bytes out of their wrapper, without copying them.
pub(super) fn into_vec(mut bytes: Wiped<Vec<u8>>) -> Vec<u8> {
    std::mem::take(&mut *bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacements_across_text_buffers_apply_in_source_order() {
        let src: Vec<u8> = (0..20_000).map(|i| b'a' + (i % 26) as u8).collect();
        let mut want = Vec::new();
        let mut pos = 0;
        // Pushed out of order, with texts of every size up to past the largest buffer.
        let mut spans: Vec<(usize, usize, String)> = (0..2_000)
            .map(|i| {
                let start = i * 10;
                let len = if i == 7 { MAX_CHUNK + 3 } else { i % 40 };
                (start, start + 5, format!("<{i}>").repeat(len / 3 + 1))
            })
            .collect();
        for (start, end, text) in &spans {
            want.extend_from_slice(&src[pos..*start]);
            want.extend_from_slice(text.as_bytes());
            pos = *end;
        }
        want.extend_from_slice(&src[pos..]);
        spans.reverse();
        let edits = || {
            let mut edits = Edits::default();
            for (i, (start, end, text)) in spans.iter().enumerate() {
                if i % 3 == 0 {
                    edits.push_lent(*start, *end, text);
                } else {
                    edits.push(*start, *end, text.clone());
                }
            }
            edits
        };
        assert!(edits().texts.len() > 2);
        // On one thread, and in two halves on two (whatever the size), alike.
        for two_from in [usize::MAX, 0] {
            assert_eq!(
                edits()
                    .apply_from(&src, two_from)
                    .ok()
                    .as_deref()
                    .map(|v| v.as_slice()),
                Some(&want[..]),
                "{two_from}"
            );
        }
    }

    #[test]
    fn a_few_replacements_apply_in_halves_too() {
        for n in 0..5 {
            let mut a = Edits::default();
            let mut b = Edits::default();
            for i in 0..n {
                a.push(i * 3, i * 3 + 1, format!("<{i}>"));
                b.push(i * 3, i * 3 + 1, format!("<{i}>"));
            }
            let one = a.apply_from(b"abcdefghijklmnop", usize::MAX).ok();
            let two = b.apply_from(b"abcdefghijklmnop", 0).ok();
            assert_eq!(one, two, "{n}");
        }
        let mut bad = Edits::default();
        bad.push(0, 4, String::from("x"));
        bad.push(2, 6, String::from("y"));
        assert!(bad.apply_from(b"0123456789", 0).is_err());
    }

    #[test]
    fn overlapping_replacements_are_refused() {
        let mut edits = Edits::default();
        edits.push(0, 4, String::from("x"));
        edits.push(2, 6, String::from("y"));
        assert!(edits.apply(b"0123456789").is_err());
    }
}
