//! `set` and `unset` as text edits. `unset`: a `key = value` line of a table (a scalar, the key
//! alone on its line or after a dotted prefix, nothing but a comment after the value) is removed
//! with its line break (the last key of a dotted table leaves `prefix = {}`); a table or an
//! array of tables (or one element of it) loses its sections, each with the comment lines right
//! above its header. `set` of a new key: a `key = value` line after the last content line of the
//! table's own section (the top level: before the first header), or after the table's last pair
//! line (dotted tables). Anything else (a value in an inline table or array, a new key of an
//! implicit table) is left to the shared fallbacks of `Store` (an in-place scalar splice, else a
//! layout from scratch); every edit is read back before it is used.

use super::emit::{push_inline, push_key};
use super::sections::{indentation, last_content_line, sections, with_comments_above};
use super::Layout;
use crate::stores::text::{apply_edits, into_vec, line_break_of, Edit};
use crate::stores::{Parsed, StoreError};
use crate::tree::{Item, Value};
use crate::treepath::Step;

/// Only indentation before a key.
fn plain_prefix(prefix: &[u8]) -> bool {
    prefix.iter().all(|&b| b == b' ' || b == b'\t')
}

/// Where the last `.` of a dotted key's prefix (`  a."b c".`) is, when `prefix` is one.
fn dotted_prefix(prefix: &[u8]) -> Option<usize> {
    let end = prefix.iter().rposition(|&b| b != b' ' && b != b'\t')?;
    (prefix[end] == b'.' && !prefix.iter().any(|b| b"={}[],#".contains(b))).then_some(end)
}

/// The range of the line holding `key = value` (with its line break), when nothing else is on it.
fn pair_line(src: &[u8], key_start: usize, value_end: usize) -> Option<(usize, usize)> {
    let line_start = src[..key_start]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    if !plain_prefix(&src[line_start..key_start])
        && dotted_prefix(&src[line_start..key_start]).is_none()
    {
        return None;
    }
    let rest = &src[value_end..];
    let line_end = rest
        .iter()
        .position(|&b| b == b'\n')
        .map_or(src.len(), |p| value_end + p + 1);
    let tail = &src[value_end..line_end];
    let body = tail
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .map(|p| &tail[p..]);
    match body {
        None | Some(b"\n") | Some(b"\r\n") => Some((line_start, line_end)),
        Some(b) if b.first() == Some(&b'#') => Some((line_start, line_end)),
        _ => None,
    }
}

pub fn unset_at(
    layout: &Layout,
    parsed: &Parsed,
    steps: &[Step],
) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(doc) = parsed.tree.docs.first() else {
        return Ok(None);
    };
    let leaf = match crate::treepath::lookup(&doc.items, steps) {
        Ok(Value::Leaf(leaf)) => leaf,
        Ok(Value::Map(_) | Value::List(_)) => return unset_sections(layout, steps),
        _ => return Ok(None),
    };
    let Some(span) = layout.spans.get(leaf.id) else {
        return Ok(None);
    };
    let src = &layout.src[..];
    let Some(key_start) = span.key_start else {
        return Ok(None);
    };
    let Some((start, end)) = pair_line(src, key_start, span.end) else {
        return Ok(None);
    };
    // The last key of a dotted table (`a.b = 1`, unset `a.b`): `a = {}` keeps the empty table.
    let parent = &steps[..steps.len().saturating_sub(1)];
    let only_key = !parent.is_empty()
        && matches!(crate::treepath::lookup(&doc.items, parent),
            Ok(Value::Map(items)) if items.iter().filter(|i| matches!(i, Item::Pair { .. })).count() == 1);
    let edit = match dotted_prefix(&src[start..key_start]) {
        Some(dot) if only_key => {
            let cut = src[..start + dot]
                .iter()
                .rposition(|&b| b != b' ' && b != b'\t')
                .map_or(start, |p| p + 1);
            Edit::replace(cut, span.end, b" = {}".to_vec())
        }
        _ => Edit::delete(start, end),
    };
    let mut edits = vec![edit];
    Ok(Some(into_vec(apply_edits(src, &mut edits)?)))
}

/// A table or an array of tables (or one element) removed with its sections: from the comment
/// lines right above each header to the next header. `None` when it has no section (an inline
/// table or array).
fn unset_sections(layout: &Layout, steps: &[Step]) -> Result<Option<Vec<u8>>, StoreError> {
    let src = &layout.src[..];
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for s in sections(layout)
        .iter()
        .filter(|s| s.steps.starts_with(steps))
    {
        let start = with_comments_above(layout, s.start);
        match ranges.last_mut() {
            Some((_, end)) if *end >= start => *end = s.end,
            _ => ranges.push((start, s.end)),
        }
    }
    let Some(last) = ranges.last_mut() else {
        return Ok(None);
    };
    // At the end of the file, the blank lines before the removed text go too.
    if last.1 == src.len() {
        let nl = line_break_of(src).as_bytes();
        while last.0 > 0 && src[..last.0].ends_with(&[nl, nl].concat()) {
            last.0 -= nl.len();
        }
    }
    let mut edits: Vec<Edit> = ranges
        .into_iter()
        .map(|(a, b)| Edit::delete(a, b))
        .collect();
    Ok(Some(into_vec(apply_edits(src, &mut edits)?)))
}

/// `indent key = value`.
fn pair_text(
    indent: &[u8],
    key: &str,
    steps: &[Step],
    value: &Value,
) -> Result<Vec<u8>, StoreError> {
    let mut text = indent.to_vec();
    push_pair(&mut text, key, steps, value)?;
    Ok(text)
}

/// The new `key = value` line in the section of the table at `parent` (the top level: the lines
/// before the first header), after its last content line; `None` when the table has no section
/// of its own (a dotted or implicit table).
fn set_in_section(
    layout: &Layout,
    parent: &[Step],
    key: &str,
    steps: &[Step],
    value: &Value,
) -> Result<Option<Vec<u8>>, StoreError> {
    let src = &layout.src[..];
    let all = sections(layout);
    let (body_start, body_end, has_header) = if parent.is_empty() {
        (0, all.first().map_or(src.len(), |s| s.start), false)
    } else {
        let mut own = all.iter().filter(|s| s.steps == parent);
        match (own.next(), own.next()) {
            (Some(s), None) => (s.body_start, s.end, true),
            _ => return Ok(None),
        }
    };
    let file_newline = line_break_of(src).as_bytes();
    let line = pair_text(indentation(layout, body_start, body_end), key, steps, value)?;
    let last = last_content_line(layout, body_start, body_end);
    // The line break of the line the new one follows (the file's own after a last line).
    let newline = match last.map(|(_, end)| &src[..end]) {
        Some(before) if before.ends_with(b"\r\n") => b"\r\n".as_slice(),
        Some(before) if before.ends_with(b"\n") => b"\n".as_slice(),
        _ => file_newline,
    };
    let (at, text) = match last {
        Some((_, end)) if src[..end].ends_with(b"\n") => (end, [&line[..], newline].concat()),
        Some((_, end)) => (end, [newline, &line[..]].concat()),
        // An empty table: right after its header.
        None if has_header && src[..body_start].ends_with(b"\n") => {
            (body_start, [&line[..], newline].concat())
        }
        None if has_header => (body_start, [newline, &line[..]].concat()),
        // A top level with no key: before the first header and the comments above it.
        None => match all.first() {
            Some(first) => (
                with_comments_above(layout, first.start),
                [&line[..], newline, newline].concat(),
            ),
            None if src.is_empty() || src.ends_with(b"\n") => {
                (src.len(), [&line[..], newline].concat())
            }
            None => (src.len(), [newline, &line[..]].concat()),
        },
    };
    let mut edits = vec![Edit::replace(at, at, text)];
    Ok(Some(into_vec(apply_edits(src, &mut edits)?)))
}

/// The plaintext with a new `key = value` line after the last pair of the table at `steps`'s
/// parent; `None` when the key exists or the table does not end with a pair line.
pub fn set_at(
    layout: &Layout,
    parsed: &Parsed,
    steps: &[Step],
    value: &Value,
) -> Result<Option<Vec<u8>>, StoreError> {
    let (Some(doc), Some((Step::Key(key), parent))) =
        (parsed.tree.docs.first(), steps.split_last())
    else {
        return Ok(None);
    };
    let found;
    let items = if parent.is_empty() {
        doc.items.as_slice()
    } else {
        found = crate::treepath::lookup(&doc.items, parent);
        match &found {
            Ok(Value::Map(items)) => items.as_slice(),
            _ => return Ok(None),
        }
    };
    if crate::tree::get(items, key).is_some() {
        return Ok(None);
    }
    if let Some(out) = set_in_section(layout, parent, key, steps, value)? {
        return Ok(Some(out));
    }
    let last = items.iter().rev().find_map(|i| match i {
        Item::Pair { value, .. } => Some(value),
        _ => None,
    });
    let Some(Value::Leaf(leaf)) = last else {
        return Ok(None);
    };
    let src = &layout.src[..];
    let Some((key_start, (line_start, line_end))) = layout.spans.get(leaf.id).and_then(|span| {
        let k = span.key_start?;
        Some((k, pair_line(src, k, span.end)?))
    }) else {
        return Ok(None);
    };
    // The line break of the line the new one follows (the file's own after a last line).
    let newline = if src[..line_end].ends_with(b"\r\n") {
        "\r\n"
    } else if src[..line_end].ends_with(b"\n") {
        "\n"
    } else {
        crate::stores::text::line_break_of(src)
    };
    let mut text = Vec::new();
    if !src[..line_end].ends_with(b"\n") {
        text.extend_from_slice(newline.as_bytes());
    }
    text.extend_from_slice(&src[line_start..key_start]);
    push_pair(&mut text, key, steps, value)?;
    if src[..line_end].ends_with(b"\n") {
        text.extend_from_slice(newline.as_bytes());
    }
    let mut edits = vec![Edit::replace(line_end, line_end, text)];
    Ok(Some(into_vec(apply_edits(src, &mut edits)?)))
}

/// `key = value` (the value inline), for a new pair at `steps`.
fn push_pair(
    text: &mut Vec<u8>,
    key: &str,
    steps: &[Step],
    value: &Value,
) -> Result<(), StoreError> {
    push_key(text, key);
    text.extend_from_slice(b" = ");
    let mut path: Vec<String> = steps
        .iter()
        .map(|s| match s {
            Step::Key(k) => format!("{k:?}"),
            Step::Index(i) => i.to_string(),
        })
        .collect();
    push_inline(text, value, &mut path)
}

#[cfg(test)]
mod tests {
    use crate::stores::{Format, Store, StoreOptions};
    use crate::treepath::Step;

    fn unset(src: &str, steps: &[&str]) -> String {
        let store = Store::new(Format::Toml, StoreOptions::default());
        let parsed = store.parse(src.as_bytes()).unwrap();
        let steps: Vec<Step> = steps.iter().map(|s| Step::Key(s.to_string())).collect();
        String::from_utf8(store.unset(&parsed, &steps).unwrap()).unwrap()
    }

    fn set(src: &str, steps: &[&str], value: &str) -> String {
        use crate::tree::{secret, Leaf, Scalar, Value, NO_LEAF};
        let store = Store::new(Format::Toml, StoreOptions::default());
        let parsed = store.parse(src.as_bytes()).unwrap();
        let steps: Vec<Step> = steps.iter().map(|s| Step::Key(s.to_string())).collect();
        let v = Value::Leaf(Leaf::new(NO_LEAF, Scalar::Str(secret(value))));
        String::from_utf8(store.set(&parsed, &steps, &v).unwrap()).unwrap()
    }

    #[test]
    fn a_new_key_goes_after_the_last_pair() {
        let src = "# head\na = 1 # one\n\n[t]\n  c = 'x'\r\n\n[u]\nd = 3";
        assert_eq!(
            set(src, &["t", "n"], "v"),
            "# head\na = 1 # one\n\n[t]\n  c = 'x'\r\n  n = \"v\"\r\n\n[u]\nd = 3"
        );
        assert_eq!(set(src, &["u", "e"], "w"), format!("{src}\ne = \"w\""));
    }

    #[test]
    fn a_pair_line_goes_with_its_comment() {
        let src = "# head\na = 1 # one\nb = 2\n\n[t]\nc = 'x'\r\nd = 3\n";
        assert_eq!(
            unset(src, &["a"]),
            "# head\nb = 2\n\n[t]\nc = 'x'\r\nd = 3\n"
        );
        assert_eq!(
            unset(src, &["t", "c"]),
            "# head\na = 1 # one\nb = 2\n\n[t]\nd = 3\n"
        );
    }

    #[test]
    fn a_new_top_level_key_goes_before_the_first_table() {
        let src = "# head\na = 1 # one\n\n# about t\n[t]\nc = 'x'\n";
        assert_eq!(
            set(src, &["n"], "v"),
            "# head\na = 1 # one\nn = \"v\"\n\n# about t\n[t]\nc = 'x'\n"
        );
        // No top-level key yet: before the header and the comments that belong to it.
        let src = "# file header\n\n# about t\n[t]\nc = 1\n";
        assert_eq!(
            set(src, &["n"], "v"),
            "# file header\n\nn = \"v\"\n\n# about t\n[t]\nc = 1\n"
        );
        // A multi-line value and a comment line at the end of the top level.
        let src = "a = [\n  1,\n]\n# trailing\n\n[t]\n";
        assert_eq!(
            set(src, &["n"], "v"),
            "a = [\n  1,\n]\nn = \"v\"\n# trailing\n\n[t]\n"
        );
    }

    #[test]
    fn a_new_key_in_a_table_with_sub_tables_or_none() {
        let src = "[t]\n  a = 1\n\n[t.sub]\nb = 2\n\n[[arr]]\nx = 1\n[[arr]]\n\n[e]\n";
        assert_eq!(
            set(src, &["t", "n"], "v"),
            "[t]\n  a = 1\n  n = \"v\"\n\n[t.sub]\nb = 2\n\n[[arr]]\nx = 1\n[[arr]]\n\n[e]\n"
        );
        assert_eq!(set(src, &["e", "n"], "v"), format!("{src}n = \"v\"\n"));
        let store = Store::new(Format::Toml, StoreOptions::default());
        let parsed = store.parse(src.as_bytes()).unwrap();
        let steps = [
            Step::Key("arr".into()),
            Step::Index(1),
            Step::Key("y".into()),
        ];
        let v = crate::tree::Value::Leaf(crate::tree::Leaf::new(
            crate::tree::NO_LEAF,
            crate::tree::Scalar::Int(5),
        ));
        let out = String::from_utf8(store.set(&parsed, &steps, &v).unwrap()).unwrap();
        assert_eq!(
            out,
            "[t]\n  a = 1\n\n[t.sub]\nb = 2\n\n[[arr]]\nx = 1\n[[arr]]\ny = 5\n\n[e]\n"
        );
    }

    #[test]
    fn dotted_keys_are_text_edits() {
        let src = "# c\nx.y = 1 # why\nx.z = 2\nw = 3\n";
        assert_eq!(unset(src, &["x", "y"]), "# c\nx.z = 2\nw = 3\n");
        // The last key of a dotted table leaves it, empty.
        let src = "a = 0\n  p . q = 'x' # keep\n[t]\n";
        assert_eq!(unset(src, &["p", "q"]), "a = 0\n  p = {} # keep\n[t]\n");
        assert_eq!(
            set("x.y = 1\n[t]\n", &["x", "z"], "v"),
            "x.y = 1\nx.z = \"v\"\n[t]\n"
        );
    }

    #[test]
    fn a_whole_table_goes_with_its_header_and_comments() {
        let src = "a = 1\n\n# about t\n[t]\nb = 2\n\n[t.sub]\nc = 3\n\n[u]\nd = 4\n";
        assert_eq!(unset(src, &["t"]), "a = 1\n\n[u]\nd = 4\n");
        assert_eq!(
            unset(src, &["u"]),
            "a = 1\n\n# about t\n[t]\nb = 2\n\n[t.sub]\nc = 3\n"
        );
        let src = "[[s]]\nn = 1\n\n[[s]]\nn = 2\n[s.x]\ny = 1\n\n[[s]]\nn = 3\n";
        let store = Store::new(Format::Toml, StoreOptions::default());
        let parsed = store.parse(src.as_bytes()).unwrap();
        let out = store
            .unset(&parsed, &[Step::Key("s".into()), Step::Index(1)])
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[[s]]\nn = 1\n\n[[s]]\nn = 3\n"
        );
        assert_eq!(unset(src, &["s"]), "");
    }
}
