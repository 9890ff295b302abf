//! `set` and `unset` as text edits. `unset`: a `key = value` line of a table (a scalar, the key
//! alone on its line, nothing but a comment after the value) is removed with its line break.
//! `set` of a new key: a `key = value` line after the table's last pair, when that pair is such a
//! line. Anything else (a dotted key, a value in an inline table or array, a table, a new key
//! after a sub-table) is left to the shared fallbacks of `Store` (an in-place scalar splice, else
//! a layout from scratch).

use super::emit::{push_inline, push_key};
use super::Layout;
use crate::stores::text::{apply_edits, into_vec, Edit};
use crate::stores::{Parsed, StoreError};
use crate::tree::{Item, Value};
use crate::treepath::Step;

/// The range of the line holding `key = value` (with its line break), when nothing else is on it.
fn pair_line(src: &[u8], key_start: usize, value_end: usize) -> Option<(usize, usize)> {
    let line_start = src[..key_start]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    if !src[line_start..key_start]
        .iter()
        .all(|&b| b == b' ' || b == b'\t')
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
    let Ok(Value::Leaf(leaf)) = crate::treepath::lookup(&doc.items, steps) else {
        return Ok(None);
    };
    let Some(span) = layout.spans.get(leaf.id) else {
        return Ok(None);
    };
    let src = &layout.src[..];
    let Some((start, end)) = span.key_start.and_then(|k| pair_line(src, k, span.end)) else {
        return Ok(None);
    };
    let mut edits = vec![Edit::delete(start, end)];
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
    push_key(&mut text, key);
    text.extend_from_slice(b" = ");
    let mut path: Vec<String> = steps
        .iter()
        .map(|s| match s {
            Step::Key(k) => format!("{k:?}"),
            Step::Index(i) => i.to_string(),
        })
        .collect();
    push_inline(&mut text, value, &mut path)?;
    if src[..line_end].ends_with(b"\n") {
        text.extend_from_slice(newline.as_bytes());
    }
    let mut edits = vec![Edit::replace(line_end, line_end, text)];
    Ok(Some(into_vec(apply_edits(src, &mut edits)?)))
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
        // A dotted key is laid out from scratch, to the same data.
        let out = unset("x.y = 1\nx.z = 2\n", &["x", "y"]);
        assert!(!out.contains('y') && out.contains("z = 2"), "{out}");
    }
}
