//! The edit buffer of a file with a conflict record: git-style conflict markers around the
//! conflicting values, in any format. Ours' plaintext is rendered as `decrypt` gives it, then a
//! copy with theirs' values set at the conflicting paths (the same text edits `set` makes), and
//! the lines that differ are wrapped in `<<<<<<< ours` / `=======` / `>>>>>>> theirs`. The buffer
//! does not parse until the user keeps one side of every block and deletes the marker lines.

use similar::{capture_diff_slices, Algorithm, DiffOp};

use crate::crypto::cipher::DataKey;
use crate::stores::Store;
use crate::wipe::Wiped;

use super::record;
use super::three_way::Op;
use crate::ops::Result;

pub const OURS: &str = "<<<<<<< ours";
pub const SEPARATOR: &str = "=======";
pub const THEIRS: &str = ">>>>>>> theirs";

/// Ours' plaintext `plain` with theirs' values of `record` shown beside ours' in conflict
/// markers. A record that cannot be read with `key` gives the plaintext as it is.
pub fn buffer(
    store: &Store,
    plain: &Wiped<Vec<u8>>,
    conflict_record: &str,
    key: &DataKey,
) -> Result<Wiped<Vec<u8>>> {
    let Some(entries) = record::read(conflict_record, key) else {
        return Ok(plain.clone());
    };
    let ops: Vec<Op> = entries
        .into_iter()
        .map(|e| match e.theirs {
            Some(v) => Op::Set(e.path, v),
            None => Op::Unset(e.path),
        })
        .collect();
    let theirs = super::apply_ops(store, plain.clone(), &ops)?;
    Ok(wrap(plain, &theirs).unwrap_or_else(|| plain.clone()))
}

/// `ours` with every run of lines that differs from `theirs` shown as a conflict block; `None`
/// when either is not UTF-8 text.
pub fn wrap(ours: &[u8], theirs: &[u8]) -> Option<Wiped<Vec<u8>>> {
    let ours = std::str::from_utf8(ours).ok()?;
    let theirs = std::str::from_utf8(theirs).ok()?;
    let old: Vec<&str> = ours.split_inclusive('\n').collect();
    let new: Vec<&str> = theirs.split_inclusive('\n').collect();
    let mut out = Wiped::new(String::with_capacity(ours.len() + theirs.len()));
    let mut hunk_old: Vec<&str> = Vec::new();
    let mut hunk_new: Vec<&str> = Vec::new();
    let flush = |out: &mut String, o: &mut Vec<&str>, n: &mut Vec<&str>| {
        if o.is_empty() && n.is_empty() {
            return;
        }
        let push_lines = |out: &mut String, lines: &[&str]| {
            for l in lines {
                out.push_str(l);
                if !l.ends_with('\n') {
                    out.push('\n');
                }
            }
        };
        out.push_str(OURS);
        out.push('\n');
        push_lines(out, o);
        out.push_str(SEPARATOR);
        out.push('\n');
        push_lines(out, n);
        out.push_str(THEIRS);
        out.push('\n');
        o.clear();
        n.clear();
    };
    for op in capture_diff_slices(Algorithm::Myers, &old, &new) {
        match op {
            DiffOp::Equal { old_index, len, .. } => {
                flush(&mut out, &mut hunk_old, &mut hunk_new);
                for l in &old[old_index..old_index + len] {
                    out.push_str(l);
                }
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => hunk_old.extend_from_slice(&old[old_index..old_index + old_len]),
            DiffOp::Insert {
                new_index, new_len, ..
            } => hunk_new.extend_from_slice(&new[new_index..new_index + new_len]),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                hunk_old.extend_from_slice(&old[old_index..old_index + old_len]);
                hunk_new.extend_from_slice(&new[new_index..new_index + new_len]);
            }
        }
    }
    flush(&mut out, &mut hunk_old, &mut hunk_new);
    Some(Wiped::new(std::mem::take(&mut *out).into_bytes()))
}

/// Whether `bytes` still has a line that is a conflict marker.
pub fn has_markers(bytes: &[u8]) -> bool {
    bytes.split(|b| *b == b'\n').any(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        line.starts_with(b"<<<<<<< ")
            || line == SEPARATOR.as_bytes()
            || line.starts_with(b">>>>>>> ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differing_lines_are_wrapped() {
        let out = wrap(b"a: 1\nb: ours\nc: 3\n", b"a: 1\nb: theirs\nc: 3\n").unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "a: 1\n<<<<<<< ours\nb: ours\n=======\nb: theirs\n>>>>>>> theirs\nc: 3\n"
        );
        assert!(has_markers(&out));
        assert!(!has_markers(b"a: 1\nb: ======= x\n"));
    }

    #[test]
    fn a_last_line_without_newline_and_one_sided_hunks() {
        let out = wrap(b"a: 1\nb: 2", b"a: 1\n").unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "a: 1\n<<<<<<< ours\nb: 2\n=======\n>>>>>>> theirs\n"
        );
        let out = wrap(b"a: 1\n", b"a: 1\nz: 9\n").unwrap();
        assert!(std::str::from_utf8(&out)
            .unwrap()
            .ends_with("<<<<<<< ours\n=======\nz: 9\n>>>>>>> theirs\n"));
    }

    #[test]
    fn nothing_differs_nothing_wrapped() {
        let out = wrap(b"a: 1\n", b"a: 1\n").unwrap();
        assert_eq!(out.as_slice(), b"a: 1\n");
    }
}
