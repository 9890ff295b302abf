//! The line edit script of a layout record: from the splice's output to the original file.
//!
//! The two differ in a few lines here and there (a folded scalar written back on one line, an
//! escape written back minimised) and are the same everywhere else. The script is found by
//! reading both texts side by side: equal bytes are skipped as fast as memory compares, and
//! where a line differs, the nearest place where both go on alike again (a few equal lines in a
//! row, or both ends) is looked for among the next lines of each. Where that does not find one
//! within its bounds, the script comes from a general diff (patience, Myers between its anchors)
//! of the two texts' lines. Either way the script turns the splice's output into the original
//! exactly; the first is not always the shortest, but on the files a record is made for it is
//! the same or close, and it takes a millisecond where the general diff took ten or more
//! (argo-cd's `install.yaml`, sixteenth round of docs/performance.md).
//!
//! Its two byte comparisons (how much two texts share at the start, at the end) also tell
//! `seal` which part of an output with a record must be checked again.

use std::collections::HashMap;
use std::ops::Range;

use similar::algorithms::{myers, patience, DiffHook};

/// One edit of a record: lines of the splice's output kept or deleted, or bytes of the original
/// added (whole lines, the last one perhaps without its `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Edit {
    Keep(usize),
    Delete(usize),
    Add(Range<usize>),
}

/// The script that turns `from` into `to`, line by line (lines end after each `\n`; a lone CR
/// ends no line).
pub(super) fn script(from: &str, to: &str) -> Vec<Edit> {
    side_by_side(from.as_bytes(), to.as_bytes()).unwrap_or_else(|| general(from, to))
}

/// Lines of each side looked at past a difference for the place where both go on alike.
const WINDOW: usize = 64;

/// Equal lines in a row that make such a place (fewer where both texts end).
const CONFIRM: usize = 3;

/// Line comparisons the side-by-side reading may make beyond one per byte of its input before
/// it leaves the texts to the general diff (texts unlike each other throughout).
const BUDGET: usize = 1 << 20;

/// The script by reading both texts side by side; `None` where a difference has no place
/// within [`WINDOW`] lines of each side where they go on alike, or the reading exceeds its
/// budget.
fn side_by_side(a: &[u8], b: &[u8]) -> Option<Vec<Edit>> {
    let mut out = Script::default();
    let mut budget = BUDGET + a.len() + b.len();
    let (mut i, mut j) = (0, 0);
    loop {
        // The equal lines from here: up to the last `\n` of the equal bytes, or to both ends.
        let same = common_prefix_len(&a[i..], &b[j..]);
        let whole = if i + same == a.len() && j + same == b.len() {
            same
        } else {
            memchr::memrchr(b'\n', &a[i..i + same]).map_or(0, |nl| nl + 1)
        };
        out.keep(line_count(&a[i..i + whole]));
        i += whole;
        j += whole;
        match (i == a.len(), j == b.len()) {
            (true, true) => return Some(out.edits),
            (true, false) => {
                out.add(j..b.len());
                return Some(out.edits);
            }
            (false, true) => {
                out.delete(line_count(&a[i..]));
                return Some(out.edits);
            }
            (false, false) => {}
        }
        let ahead_a = Ahead::of(a, i);
        let ahead_b = Ahead::of(b, j);
        let (x, y) = find_sync(&ahead_a, &ahead_b, &mut budget)?;
        // The lines before it: a diff of their own (a few equal lines among changed ones are
        // kept, as the general diff keeps them).
        between(&ahead_a, x, &ahead_b, y, &mut out);
        i = ahead_a.start_of(x);
        j = ahead_b.start_of(y);
    }
}

/// The next lines of a text from a line start: their spans, and whether they reach its end.
struct Ahead<'t> {
    text: &'t [u8],
    lines: Vec<Range<usize>>,
    to_end: bool,
}

impl<'t> Ahead<'t> {
    fn of(text: &'t [u8], from: usize) -> Self {
        let mut lines = Vec::with_capacity(WINDOW + CONFIRM);
        let mut at = from;
        while lines.len() < WINDOW + CONFIRM && at < text.len() {
            let end = memchr::memchr(b'\n', &text[at..]).map_or(text.len(), |nl| at + nl + 1);
            lines.push(at..end);
            at = end;
        }
        Ahead {
            text,
            lines,
            to_end: at == text.len(),
        }
    }

    /// Where the line `n` lines on starts (the text's end past its last line).
    fn start_of(&self, n: usize) -> usize {
        self.lines.get(n).map_or(self.text.len(), |l| l.start)
    }
}

/// The edits for the first `x` lines of `a` and the first `y` of `b`, which differ (Myers's
/// diff: at most [`WINDOW`] lines each).
fn between(a: &Ahead, x: usize, b: &Ahead, y: usize, out: &mut Script) {
    if x == 0 || y == 0 {
        out.delete(x);
        out.add(b.start_of(0)..b.start_of(y));
        return;
    }
    let old: Vec<&[u8]> = a.lines[..x].iter().map(|l| &a.text[l.clone()]).collect();
    let new: Vec<&[u8]> = b.lines[..y].iter().map(|l| &b.text[l.clone()]).collect();
    let starts: Vec<usize> = (0..=y).map(|n| b.start_of(n)).collect();
    let mut hook = Hook {
        starts: &starts,
        out,
    };
    let Ok(()) = myers::diff(&mut hook, &old, 0..x, &new, 0..y);
}

/// The fewest lines `(x, y)` to skip on each side so that both go on alike: [`CONFIRM`] equal
/// lines, or equal lines up to both ends.
fn find_sync(a: &Ahead, b: &Ahead, budget: &mut usize) -> Option<(usize, usize)> {
    let (ta, tb) = (&a.lines, &b.lines);
    let most_a = ta.len().min(WINDOW);
    let most_b = tb.len().min(WINDOW);
    for d in 1..=most_a + most_b {
        for x in d.saturating_sub(most_b)..=d.min(most_a) {
            let y = d - x;
            *budget = budget.checked_sub(1)?;
            if alike_from(a, b, x, y) {
                return Some((x, y));
            }
        }
    }
    None
}

/// Whether the lines of `a` from `x` and of `b` from `y` go on alike.
fn alike_from(a: &Ahead, b: &Ahead, x: usize, y: usize) -> bool {
    for k in 0..CONFIRM {
        match (a.lines.get(x + k), b.lines.get(y + k)) {
            (Some(la), Some(lb)) => {
                if a.text.get(la.clone()) != b.text.get(lb.clone()) {
                    return false;
                }
            }
            // Both ended together: alike to the end.
            (None, None) => return a.to_end && b.to_end,
            _ => return false,
        }
    }
    true
}

/// An edit script being written, runs of one kind joined.
#[derive(Default)]
struct Script {
    edits: Vec<Edit>,
}

impl Script {
    fn keep(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        match self.edits.last_mut() {
            Some(Edit::Keep(k)) => *k += n,
            _ => self.edits.push(Edit::Keep(n)),
        }
    }

    fn delete(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        // Deleting after adding, with nothing kept between, is deleting before it: one run
        // of deletions and one of additions per change.
        let before_add = match self.edits.last() {
            Some(Edit::Add(_)) => self.edits.len() - 1,
            _ => self.edits.len(),
        };
        match before_add
            .checked_sub(1)
            .and_then(|k| self.edits.get_mut(k))
        {
            Some(Edit::Delete(k)) => *k += n,
            _ => self.edits.insert(before_add, Edit::Delete(n)),
        }
    }

    fn add(&mut self, bytes: Range<usize>) {
        if bytes.is_empty() {
            return;
        }
        match self.edits.last_mut() {
            Some(Edit::Add(r)) if r.end == bytes.start => r.end = bytes.end,
            _ => self.edits.push(Edit::Add(bytes)),
        }
    }
}

/// How many lines `text` holds (the last may lack its `\n`).
fn line_count(text: &[u8]) -> usize {
    let n = memchr::memchr_iter(b'\n', text).count();
    n + usize::from(text.last().is_some_and(|&c| c != b'\n'))
}

/// How many bytes at the end of `a` and `b` are the same.
pub(super) fn common_suffix_len(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 4096;
    let mut same = 0;
    let most = a.len().min(b.len());
    // Chunk by chunk, then byte by byte within the first chunk that differs.
    while same + CHUNK <= most
        && a[a.len() - same - CHUNK..a.len() - same] == b[b.len() - same - CHUNK..b.len() - same]
    {
        same += CHUNK;
    }
    while same < most && a[a.len() - same - 1] == b[b.len() - same - 1] {
        same += 1;
    }
    same
}

/// How many bytes at the start of `a` and `b` are the same.
pub(super) fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 64;
    let most = a.len().min(b.len());
    let mut same = 0;
    while same + CHUNK <= most && a[same..same + CHUNK] == b[same..same + CHUNK] {
        same += CHUNK;
    }
    same + a[same..most]
        .iter()
        .zip(&b[same..most])
        .take_while(|(x, y)| x == y)
        .count()
}

/// The script by a general diff of the lines (patience: lines found once in each as anchors,
/// Myers between them), for texts the side-by-side reading leaves.
fn general(from: &str, to: &str) -> Vec<Edit> {
    let old_lines: Vec<&str> = from.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = to.split_inclusive('\n').collect();
    // Where each line of `to` starts, and its end.
    let mut starts: Vec<usize> = Vec::with_capacity(new_lines.len() + 1);
    let mut at = 0;
    for line in &new_lines {
        starts.push(at);
        at += line.len();
    }
    starts.push(at);
    // The diff compares numbers standing for the lines (equal lines, equal numbers): the same
    // script as comparing the lines, without comparing their text at every step.
    let (old_ids, new_ids) = line_ids(&old_lines, &new_lines);
    let mut out = Script::default();
    let mut hook = Hook {
        starts: &starts,
        out: &mut out,
    };
    let Ok(()) = patience::diff(
        &mut hook,
        &old_ids,
        0..old_ids.len(),
        &new_ids,
        0..new_ids.len(),
    );
    out.edits
}

/// The general diff's operations taken as they come, runs of one kind joined (`similar`'s
/// `capture_diff_slices` also slides them into a tidier script, which a record does not need).
struct Hook<'a> {
    starts: &'a [usize],
    out: &'a mut Script,
}

impl DiffHook for Hook<'_> {
    type Error = std::convert::Infallible;

    fn equal(&mut self, _old: usize, _new: usize, len: usize) -> Result<(), Self::Error> {
        self.out.keep(len);
        Ok(())
    }

    fn delete(&mut self, _old: usize, len: usize, _new: usize) -> Result<(), Self::Error> {
        self.out.delete(len);
        Ok(())
    }

    fn insert(&mut self, _old: usize, new: usize, len: usize) -> Result<(), Self::Error> {
        let last = self.starts.len().saturating_sub(1);
        let from = self.starts.get(new.min(last)).copied().unwrap_or(0);
        let to = self.starts.get((new + len).min(last)).copied().unwrap_or(0);
        self.out.add(from..to);
        Ok(())
    }
}

/// A number for each line of `a` and `b`, the same for equal lines.
fn line_ids(a: &[&str], b: &[&str]) -> (Vec<u32>, Vec<u32>) {
    let mut ids: HashMap<&str, u32> = HashMap::with_capacity(a.len());
    let mut id_of = |line| {
        let next = ids.len() as u32;
        *ids.entry(line).or_insert(next)
    };
    let a = a.iter().map(|l| id_of(*l)).collect();
    let b = b.iter().map(|l| id_of(*l)).collect();
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn common_suffixes() {
        let long: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for (a, b, same) in [
            (&b""[..], &b""[..], 0),
            (b"abc", b"xbc", 2),
            (b"abc", b"abc", 3),
            (b"bc", b"abc", 2),
            (b"abc", b"abd", 0),
        ] {
            assert_eq!(common_suffix_len(a, b), same, "{a:?} {b:?}");
        }
        let mut other = long.clone();
        other[100] ^= 1;
        assert_eq!(common_suffix_len(&long, &other), 10_000 - 101);
        assert_eq!(common_suffix_len(&long[1..], &long), 9_999);
        other.insert(0, 7);
        assert_eq!(common_suffix_len(&long, &other), 10_000 - 101);
    }

    /// `from` with `edits` applied, as a record's reader applies them; `None` where they do not
    /// consume `from` exactly.
    fn applied(edits: &[Edit], from: &str, to: &str) -> Option<String> {
        let mut lines = from.split_inclusive('\n');
        let mut out = String::new();
        for edit in edits {
            match edit {
                Edit::Keep(n) => (0..*n).try_for_each(|_| {
                    out.push_str(lines.next()?);
                    Some(())
                })?,
                Edit::Delete(n) => (0..*n).try_for_each(|_| lines.next().map(drop))?,
                Edit::Add(r) => out.push_str(to.get(r.clone())?),
            }
        }
        lines.next().is_none().then_some(out)
    }

    /// Lines added, deleted and kept by a script.
    fn sizes(edits: &[Edit]) -> (usize, usize) {
        edits.iter().fold((0, 0), |(d, a), e| match e {
            Edit::Delete(n) => (d + n, a),
            Edit::Add(r) => (d, a + r.len()),
            Edit::Keep(_) => (d, a),
        })
    }

    proptest! {
        #[test]
        fn both_ways_give_the_original(
            from in "([ab]{0,2}\r?\n?){0,40}",
            to in "([ab]{0,2}\r?\n?){0,40}",
        ) {
            let general = general(&from, &to);
            prop_assert_eq!(applied(&general, &from, &to), Some(to.clone()));
            if let Some(side) = side_by_side(from.as_bytes(), to.as_bytes()) {
                prop_assert_eq!(applied(&side, &from, &to), Some(to.clone()));
            }
            prop_assert_eq!(applied(&script(&from, &to), &from, &to), Some(to.clone()));
        }

        /// A text with a few lines changed here and there, as a record's texts are: the
        /// side-by-side script is found and is no longer than the general diff's.
        #[test]
        fn few_changes_are_found_side_by_side(
            changes in proptest::collection::vec((0usize..400, 0usize..3, "[a-z: ]{0,12}\n"), 0..12),
        ) {
            let lines: Vec<String> = (0..400).map(|n| format!("key{n}: value {}\n", n % 7)).collect();
            let from = lines.concat();
            let mut to_lines = lines.clone();
            for (at, removed, added) in changes.iter().rev() {
                let at = (*at).min(to_lines.len());
                let end = (at + removed).min(to_lines.len());
                to_lines.splice(at..end, [added.clone()]);
            }
            let to = to_lines.concat();
            let side = side_by_side(from.as_bytes(), to.as_bytes());
            prop_assert!(side.is_some());
            let side = side.unwrap_or_default();
            prop_assert_eq!(applied(&side, &from, &to), Some(to.clone()));
            let (d, a) = sizes(&side);
            let (gd, ga) = sizes(&general(&from, &to));
            prop_assert!(d <= gd + 3 * changes.len() && a <= ga + 40 * changes.len(), "{d} {a} {gd} {ga}");
        }
    }

    #[test]
    fn texts_unlike_throughout_go_to_the_general_diff() {
        let from: String = (0..300).map(|n| format!("a{n}\n")).collect();
        let to: String = (0..300).map(|n| format!("b{n}\n")).collect();
        assert!(side_by_side(from.as_bytes(), to.as_bytes()).is_none());
        let edits = script(&from, &to);
        assert_eq!(applied(&edits, &from, &to), Some(to.clone()));
    }

    #[test]
    fn a_changed_line_is_one_deletion_and_one_addition() {
        let from = "a: 1\nb: x y\nc: 3\nd: 4\ne: 5\n";
        let to = "a: 1\nb: x\n  y\nc: 3\nd: 4\ne: 5\n";
        assert_eq!(
            side_by_side(from.as_bytes(), to.as_bytes()),
            Some(vec![
                Edit::Keep(1),
                Edit::Delete(1),
                Edit::Add(5..14),
                Edit::Keep(3)
            ])
        );
        // At the end, and without a final newline.
        let edits = side_by_side(b"a\nb\nc", b"a\nb\nd").unwrap_or_default();
        assert_eq!(edits, vec![Edit::Keep(2), Edit::Delete(1), Edit::Add(4..5)]);
        let edits = side_by_side(b"a\nb", b"a\nb\n").unwrap_or_default();
        assert_eq!(edits, vec![Edit::Keep(1), Edit::Delete(1), Edit::Add(2..4)]);
    }

    /// Real files with lines removed, added, repeated and changed here and there: the script
    /// gives each back from the other.
    #[test]
    fn changed_corpus_files_give_each_other_back() {
        let mut seed: u64 = 0x5eed;
        let mut pick = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n.max(1)
        };
        let files = crate::stores::yaml::corpus_yaml_files();
        assert!(files.len() > 50, "the corpus is missing");
        for path in files {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            for _ in 0..4 {
                let mut lines: Vec<String> = text.split_inclusive('\n').map(String::from).collect();
                for _ in 0..pick(30) {
                    if lines.is_empty() {
                        break;
                    }
                    let at = pick(lines.len());
                    match pick(4) {
                        0 => drop(lines.drain(at..(at + pick(5) + 1).min(lines.len()))),
                        1 => lines.insert(at, format!("x{}\n", pick(3))),
                        2 => lines.insert(at, lines[pick(lines.len())].clone()),
                        _ => lines[at] = lines[at].replace(' ', ""),
                    }
                }
                let changed = lines.concat();
                for (from, to) in [(&text, &changed), (&changed, &text)] {
                    let back = applied(&script(from, to), from, to);
                    assert!(back.as_ref() == Some(to), "{}", path.display());
                }
            }
        }
    }
}
