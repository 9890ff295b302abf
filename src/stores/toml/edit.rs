//! `unset` as a text edit: a `key = value` line of a table (a scalar, the key alone on its line,
//! nothing but a comment after the value) is removed with its line break. Anything else (a
//! dotted key, a value in an inline table or array, a table, `set`) is left to the shared
//! fallbacks of `Store` (an in-place scalar splice, else a layout from scratch).

use super::Layout;
use crate::stores::text::{apply_edits, into_vec, Edit};
use crate::stores::{Parsed, StoreError};
use crate::tree::Value;
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
