//! A large splice written in two halves at once, the second on another thread. An encryption's
//! splice is a stretch of the run with one processor busy, and most of it is the output's fresh
//! pages, touched for the first time as they are written (docs/performance.md, twenty-fifth
//! round). The second half starts at a known place of the output only where the length of every
//! piece before it is known before it is written: so it is used where every piece is an
//! `ENC[...]` value or bytes made beforehand (an encryption's splice), and the splice is written
//! on one thread otherwise.
//!
//! Both halves are written into the output's spare capacity, each into its own part of it; the
//! output's length is set once both are written, each exactly as long as the pieces say.

use std::mem::MaybeUninit;

use crate::filebytes::FileBytes;
use crate::stores::StoreError;
use crate::wipe::Wiped;

/// Outputs from this size on, and below the next, are written in halves (a 10,000-value JSON
/// encryption's output is 1.5 MB). A larger output is written on one thread while the plaintext
/// tree is freed beside it (`ops/shape.rs`), and the pages the tree gave back are what keep its
/// peak down: written in halves, twice as fast, a 200,000-value encryption's peak grew from 116
/// to 131 MiB (a quarter of sops's). Every output from 1 byte on in unit tests, so that every
/// JSON splice they make of an encryption takes this path (the command-line tests take the other).
pub(super) const HALVES_FROM: usize = if cfg!(test) { 1 } else { 512 * 1024 };
pub(super) const HALVES_BELOW: usize = 8 << 20;

/// The bytes of a piece known beforehand: up to three runs written one after the other (an
/// `ENC[...]` value and its quotes).
pub(super) type Known<'a> = [&'a [u8]; 3];

/// Where the second half starts, in the source and in the output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Cut {
    src: usize,
    out: usize,
}

/// Finds the [`Cut`] while the splice measures its pieces: the first piece that starts at or
/// after the middle of the source, when every piece is known beforehand.
pub(super) struct CutFinder {
    middle: usize,
    /// The smallest output written in halves.
    from: usize,
    /// The lengths of the pieces so far, and of the spans they replace.
    added: usize,
    removed: usize,
    known: bool,
    cut: Option<Cut>,
}

impl CutFinder {
    pub(super) fn new(src_len: usize) -> Self {
        CutFinder {
            middle: src_len / 2,
            from: HALVES_FROM,
            added: 0,
            removed: 0,
            known: true,
            cut: None,
        }
    }

    /// The next piece in file order: it replaces `start..end`, with `known` where its bytes are
    /// known beforehand.
    pub(super) fn piece(&mut self, start: usize, end: usize, known: Option<Known<'_>>) {
        let Some(known) = known else {
            self.known = false;
            return;
        };
        if self.cut.is_none() && start >= self.middle && start >= self.removed {
            self.cut = Some(Cut {
                src: start,
                out: start - self.removed + self.added,
            });
        }
        self.added += known.iter().map(|run| run.len()).sum::<usize>();
        self.removed += end.saturating_sub(start);
    }

    /// The cut, where the output is written in halves.
    pub(super) fn cut(&self, size: usize) -> Option<Cut> {
        self.cut.filter(|cut| {
            self.known && (self.from..HALVES_BELOW).contains(&size) && cut.out <= size
        })
    }
}

/// Writes one half: the source's bytes from `from` to `to`, with the pieces that start there in
/// place of their spans. A piece outside the half is passed over.
pub(super) struct Half<'b, 's> {
    buf: &'b mut [MaybeUninit<u8>],
    at: usize,
    src: &'s [u8],
    pos: usize,
    to: usize,
    /// The mapping the source is, whose pages behind this half are given back as it is written.
    release: Option<&'s FileBytes>,
    ok: bool,
}

impl<'b, 's> Half<'b, 's> {
    fn new(buf: &'b mut [MaybeUninit<u8>], src: &'s [u8], from: usize, to: usize) -> Self {
        Half {
            buf,
            at: 0,
            src,
            pos: from,
            to,
            release: None,
            ok: true,
        }
    }

    /// The next piece in file order (see [`CutFinder::piece`]).
    pub(super) fn piece(&mut self, start: usize, end: usize, known: Option<Known<'_>>) {
        if !self.ok || start < self.pos || start >= self.to {
            return;
        }
        let Some(known) = known else {
            self.ok = false;
            return;
        };
        let kept = self.src.get(self.pos..start).unwrap_or_default();
        self.ok = self.put(kept) && known.iter().all(|run| self.put(run));
        self.pos = end;
        if let Some(mapped) = self.release {
            mapped.release_before(end);
        }
    }

    /// The pieces did not come in file order: the half is not written.
    pub(super) fn refuse(&mut self) {
        self.ok = false;
    }

    /// Copy `bytes` in after what is written, if they fit.
    fn put(&mut self, bytes: &[u8]) -> bool {
        let Some(into) = self
            .buf
            .get_mut(self.at..)
            .and_then(|rest| rest.get_mut(..bytes.len()))
        else {
            return false;
        };
        into.write_copy_of_slice(bytes);
        self.at += bytes.len();
        true
    }

    /// How many bytes the half wrote from the start of its part, the rest of its source written.
    fn finish(mut self) -> Option<usize> {
        let end = self.to.min(self.src.len());
        let rest = self.src.get(self.pos..end).unwrap_or_default();
        (self.ok && self.pos <= end && self.put(rest)).then_some(self.at)
    }
}

/// The output of `size` bytes written in halves at `cut`: `pieces` is given each half in turn
/// and hands it every piece in file order. `None` where a half did not come out as the pieces
/// said (the splice is then written on one thread).
pub(super) fn in_halves(
    src: &[u8],
    size: usize,
    cut: Cut,
    release: Option<&FileBytes>,
    pieces: &(dyn Fn(&mut Half<'_, '_>) -> Result<(), StoreError> + Sync),
) -> Result<Option<Wiped<Vec<u8>>>, StoreError> {
    let mut out = Wiped::new(Vec::with_capacity(size));
    let spare = out.spare_capacity_mut();
    let Some(spare) = spare.get_mut(..size) else {
        return Ok(None);
    };
    let (first, second) = spare.split_at_mut(cut.out);
    let first_len = first.len();
    let write = |mut half: Half<'_, '_>| -> Result<Option<usize>, StoreError> {
        pieces(&mut half)?;
        Ok(half.finish())
    };
    let mut first = Half::new(first, src, 0, cut.src);
    first.release = release;
    let second = Half::new(second, src, cut.src, usize::MAX);
    let (first, second) = std::thread::scope(|scope| {
        match crate::threads::try_spawn_scoped(scope, || write(second)) {
            Ok(thread) => {
                let first = write(first);
                let second = thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (first, second)
            }
            Err(_) => (write(first), Ok(None)),
        }
    });
    let (Some(first), Some(second)) = (first?, second?) else {
        return Ok(None);
    };
    if first != first_len {
        return Ok(None);
    }
    // SAFETY: the first `first_len` bytes of the spare capacity were written by the first half
    // (it wrote exactly that many, from the start of its part) and the `second` bytes after them
    // by the second half, from the start of its part, which begins where the first ends; both
    // parts are within the capacity (`size`).
    unsafe { out.set_len(first_len + second) };
    if let Some(mapped) = release {
        mapped.release_before(src.len());
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(s: &str) -> Option<Known<'_>> {
        Some([b"\"", s.as_bytes(), b"\""])
    }

    /// Splices `pieces` (start, end, text) into `src` on one thread, and in halves.
    fn both(src: &str, pieces: &[(usize, usize, &str)]) -> (Vec<u8>, Option<Vec<u8>>) {
        let mut one = Vec::new();
        let mut pos = 0;
        let mut finder = CutFinder {
            from: 0,
            ..CutFinder::new(src.len())
        };
        let mut size = src.len();
        for &(start, end, text) in pieces {
            one.extend_from_slice(&src.as_bytes()[pos..start]);
            one.extend_from_slice(format!("\"{text}\"").as_bytes());
            pos = end;
            finder.piece(start, end, token(text));
            size = size + text.len() + 2 - (end - start);
        }
        one.extend_from_slice(&src.as_bytes()[pos..]);
        let halves = finder.cut(size).and_then(|cut| {
            let each = |half: &mut Half<'_, '_>| {
                for &(start, end, text) in pieces {
                    half.piece(start, end, token(text));
                }
                Ok(())
            };
            in_halves(src.as_bytes(), size, cut, None, &each)
                .unwrap()
                .map(|out| out.to_vec())
        });
        (one, halves)
    }

    #[test]
    fn the_halves_give_the_splice_on_one_thread() {
        let src = r#"{"a": 1, "b": "two", "c": [3, 4], "d": "five", "e": 6}"#;
        let at = |s: &str| src.find(s).unwrap();
        let spans = [
            (at("1"), at("1") + 1, "ENC[one]"),
            (at("\"two\""), at("\"two\"") + 5, "ENC[AES256_GCM,data:x]"),
            (at("3"), at("3") + 1, "E"),
            (at("4"), at("4") + 1, ""),
            (at("\"five\""), at("\"five\"") + 6, "ENC[5]"),
            (at("6"), at("6") + 1, "ENC[six, a longer one than the rest]"),
        ];
        let (one, halves) = both(src, &spans);
        assert_eq!(halves.as_deref(), Some(one.as_slice()));
        // A piece that ends the source, and one that is inserted at its end.
        let end = src.len();
        let (one, halves) = both(src, &[(1, 4, "k"), (end - 1, end, "}"), (end, end, "x")]);
        assert_eq!(halves.as_deref(), Some(one.as_slice()));
        // No piece at or after the middle: no cut.
        assert_eq!(both(src, &[(1, 4, "k")]).1, None);
    }

    #[test]
    fn a_piece_not_known_beforehand_writes_on_one_thread() {
        let mut finder = CutFinder::new(100);
        finder.piece(10, 12, token("a"));
        finder.piece(60, 62, token("b"));
        finder.piece(70, 72, None);
        let size = HALVES_FROM.max(100);
        assert_eq!(finder.cut(size), None);
        let mut finder = CutFinder::new(100);
        finder.piece(60, 62, token("b"));
        assert_eq!(finder.cut(HALVES_FROM - 1), None);
        assert_eq!(finder.cut(HALVES_BELOW), None);
        assert_eq!(finder.cut(size), Some(Cut { src: 60, out: 60 }));
    }

    #[test]
    fn a_half_that_does_not_come_out_as_measured_is_refused() {
        let src = br#"{"a": "bb", "c": "dd"}"#;
        let cut = Cut { src: 17, out: 18 };
        // The second half's piece longer than the size said; the first half shorter than the
        // cut said.
        for (first, second) in [("xyz", "a much longer text"), ("x", "yy")] {
            let each = |half: &mut Half<'_, '_>| {
                half.piece(6, 10, token(first));
                half.piece(17, 21, token(second));
                Ok(())
            };
            let written = in_halves(src, src.len() + 1, cut, None, &each).unwrap();
            assert_eq!(written, None, "{first} {second}");
        }
    }
}
