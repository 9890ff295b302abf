//! Reading a TOML file into the store's tree with `toml_edit`: tables, dotted keys and inline
//! tables become maps, arrays and arrays of tables lists; every scalar and every comment keeps
//! its byte range. Date-times, dates and times become strings (their text as written). The
//! top-level `sops` table becomes the metadata; the headers of its sections are remembered so a
//! splice can cut it out.

use std::collections::HashMap;

use toml_edit::{Item as TItem, Value as TValue};

use super::scan::{scan, Scan};
use super::{Layout, LeafSpan, SectionHeader};
use crate::stores::{Parsed, StoreError};
use crate::tree::{secret, Doc, Item, Leaf, Scalar, Tree, Value, NO_LEAF};
use crate::wipe::Wiped;

/// Builds the tree; leaves get provisional ids (indices in `spans`), renumbered in walk order
/// once the comments are in place.
struct Builder<'a> {
    src: &'a str,
    spans: Vec<LeafSpan>,
    record: bool,
}

impl Builder<'_> {
    fn leaf(
        &mut self,
        value: Scalar,
        span: Option<std::ops::Range<usize>>,
        text: bool,
    ) -> Result<Value, StoreError> {
        let span =
            span.ok_or_else(|| StoreError::new("internal error: a TOML value without a position"))?;
        let text = text
            .then(|| self.src.get(span.clone()).map(secret))
            .flatten();
        let id = if self.record {
            self.spans.push(LeafSpan {
                start: span.start,
                end: span.end,
                comment: false,
                key_start: None,
            });
            self.spans.len() - 1
        } else {
            NO_LEAF
        };
        Ok(Value::Leaf(Leaf {
            id,
            value,
            text,
            shadowed: false,
        }))
    }

    fn value(&mut self, v: &TValue) -> Result<Value, StoreError> {
        Ok(match v {
            TValue::String(s) => {
                self.leaf(Scalar::Str(secret(s.value().as_str())), s.span(), false)?
            }
            TValue::Integer(i) => self.leaf(Scalar::Int(*i.value()), i.span(), true)?,
            TValue::Float(f) => self.leaf(Scalar::Float(*f.value()), f.span(), true)?,
            TValue::Boolean(b) => self.leaf(Scalar::Bool(*b.value()), b.span(), true)?,
            TValue::Datetime(d) => {
                let text = d
                    .span()
                    .and_then(|r| self.src.get(r))
                    .map_or_else(|| d.value().to_string(), str::to_string);
                self.leaf(Scalar::Str(secret(text)), d.span(), false)?
            }
            TValue::Array(a) => {
                let mut items = Vec::with_capacity(a.len());
                for e in a.iter() {
                    items.push(Item::Elem(self.value(e)?));
                }
                Value::List(items)
            }
            TValue::InlineTable(t) => {
                let mut items = Vec::with_capacity(t.len());
                for (k, e) in t.iter() {
                    items.push(Item::pair(k, self.value(e)?));
                }
                Value::Map(items)
            }
        })
    }

    /// A table's pairs; a scalar's span remembers where its key starts (for `unset`).
    fn table(&mut self, t: &toml_edit::Table) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::with_capacity(t.len());
        for (k, e) in t.iter() {
            if let Some(v) = self.item(e)? {
                if let Value::Leaf(l) = &v {
                    let key = t.key(k).and_then(|k| k.span()).map(|r| r.start);
                    if let Some(span) = self.spans.get_mut(l.id) {
                        span.key_start = key;
                    }
                }
                items.push(Item::pair(k, v));
            }
        }
        Ok(items)
    }

    fn item(&mut self, item: &TItem) -> Result<Option<Value>, StoreError> {
        Ok(Some(match item {
            TItem::None => return Ok(None),
            TItem::Value(v) => self.value(v)?,
            TItem::Table(t) => Value::Map(self.table(t)?),
            TItem::ArrayOfTables(a) => {
                let mut items = Vec::with_capacity(a.len());
                for t in a.iter() {
                    items.push(Item::Elem(Value::Map(self.table(t)?)));
                }
                Value::List(items)
            }
        }))
    }
}

/// The line (1-based) of byte `pos`.
fn line_at(src: &[u8], pos: usize) -> usize {
    crate::stores::text::line_of(src, pos.min(src.len()))
}

/// Insert each comment before the item holding the first value after it (in the innermost map or
/// list holding that value); comments after the last value go to the end of the document.
fn place_comments(
    items: &mut Vec<Item>,
    before: &mut HashMap<usize, Vec<Leaf>>,
    after: &mut HashMap<usize, Vec<Leaf>>,
) {
    let mut i = 0;
    while i < items.len() {
        let first = match &items[i] {
            Item::Pair {
                value: Value::Leaf(l),
                ..
            }
            | Item::Elem(Value::Leaf(l)) => Some(l.id),
            _ => None,
        };
        match &mut items[i] {
            Item::Pair {
                value: Value::Map(v) | Value::List(v),
                ..
            }
            | Item::Elem(Value::Map(v) | Value::List(v)) => place_comments(v, before, after),
            _ => {}
        }
        if let Some(comments) = first.and_then(|id| before.remove(&id)) {
            let n = comments.len();
            items.splice(i..i, comments.into_iter().map(Item::Comment));
            i += n;
        }
        if let Some(comments) = first.and_then(|id| after.remove(&id)) {
            let n = comments.len();
            items.splice(i + 1..i + 1, comments.into_iter().map(Item::Comment));
            i += n;
        }
        i += 1;
    }
}

/// Give leaves their ids in walk order, with their spans in that order.
fn renumber(items: &mut [Item], old: &[LeafSpan], spans: &mut Vec<LeafSpan>) {
    for item in items {
        match item {
            Item::Comment(l)
            | Item::Pair {
                value: Value::Leaf(l),
                ..
            }
            | Item::Elem(Value::Leaf(l)) => {
                if let Some(span) = old.get(l.id) {
                    spans.push(*span);
                    l.id = spans.len() - 1;
                }
            }
            Item::Pair {
                value: Value::Map(v) | Value::List(v),
                ..
            }
            | Item::Elem(Value::Map(v) | Value::List(v)) => renumber(v, old, spans),
        }
    }
}

/// The byte ranges of the `sops` table's sections: from each header whose first key is `sops`
/// to the next header (or the end).
fn sops_sections(src: &str, scan: &Scan) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (n, h) in scan.headers.iter().enumerate() {
        let inner = src.get(h.inner.0..h.inner.1).unwrap_or("");
        let is_sops = toml_edit::Key::parse(inner)
            .ok()
            .and_then(|keys| keys.first().map(|k| k.get() == "sops"))
            .unwrap_or(false);
        if is_sops {
            let end = scan
                .headers
                .get(n + 1)
                .map_or(src.len(), |next| next.line_start);
            match out.last_mut() {
                Some((_, last_end)) if *last_end == h.line_start => *last_end = end,
                _ => out.push((h.line_start, end)),
            }
        }
    }
    out
}

pub fn parse(src: &[u8]) -> Result<Parsed, StoreError> {
    let text = std::str::from_utf8(src).map_err(|e| {
        StoreError::at_line(
            "Could not unmarshal input data: TOML must be UTF-8",
            line_at(src, e.valid_up_to()),
        )
    })?;
    let doc = toml_edit::Document::parse(text).map_err(|e| {
        let line = e.span().map(|s| line_at(src, s.start));
        StoreError {
            message: format!(
                "Could not unmarshal input data: {}",
                e.message().lines().next().unwrap_or("invalid TOML")
            ),
            line,
        }
    })?;
    let scanned = scan(src);
    let sections = sops_sections(text, &scanned);
    let mut builder = Builder {
        src: text,
        spans: Vec::new(),
        record: true,
    };
    let mut items = Vec::new();
    let mut metadata = None;
    for (key, item) in doc.as_table().iter() {
        if key == "sops" && metadata.is_none() {
            builder.record = false;
            metadata = builder.item(item)?;
            builder.record = true;
        } else if let Some(v) = builder.item(item)? {
            if let Value::Leaf(l) = &v {
                let key_start = doc
                    .as_table()
                    .key(key)
                    .and_then(|k| k.span())
                    .map(|r| r.start);
                if let Some(span) = builder.spans.get_mut(l.id) {
                    span.key_start = key_start;
                }
            }
            items.push(Item::pair(key, v));
        }
    }
    // Comments: each before the first value that follows it (those inside the `[sops]`
    // sections go with it).
    let mut by_start: Vec<(usize, usize)> = builder
        .spans
        .iter()
        .enumerate()
        .map(|(id, s)| (s.start, id))
        .collect();
    by_start.sort_unstable();
    let mut before: HashMap<usize, Vec<Leaf>> = HashMap::new();
    let mut after: HashMap<usize, Vec<Leaf>> = HashMap::new();
    let mut trailing = Vec::new();
    for c in &scanned.comments {
        if sections.iter().any(|&(a, b)| c.hash >= a && c.hash < b) {
            continue;
        }
        let body = text.get(c.text.0..c.text.1).unwrap_or("");
        builder.spans.push(LeafSpan {
            start: c.text.0,
            end: c.text.1,
            comment: true,
            key_start: None,
        });
        let leaf = Leaf::new(builder.spans.len() - 1, Scalar::Comment(secret(body)));
        let next = by_start.partition_point(|&(start, _)| start < c.hash);
        // A comment after a value on its line goes with that value.
        let same_line = next
            .checked_sub(1)
            .and_then(|p| by_start.get(p))
            .filter(|&&(_, id)| {
                let end = builder.spans[id].end;
                end <= c.hash && !src[end..c.hash].contains(&b'\n')
            });
        if let Some(&(_, id)) = same_line {
            after.entry(id).or_default().push(leaf);
            continue;
        }
        match by_start.get(next) {
            Some(&(_, id)) => before.entry(id).or_default().push(leaf),
            None => trailing.push(leaf),
        }
    }
    place_comments(&mut items, &mut before, &mut after);
    // (A value no walk reached keeps its comments at the end rather than losing them.)
    let mut rest: Vec<(usize, Vec<Leaf>)> = before.into_iter().chain(after).collect();
    rest.sort_by_key(|(id, _)| *id);
    for (_, comments) in rest {
        items.extend(comments.into_iter().map(Item::Comment));
    }
    items.extend(trailing.into_iter().map(Item::Comment));
    let mut spans = Vec::with_capacity(builder.spans.len());
    renumber(&mut items, &builder.spans, &mut spans);
    let headers = scanned
        .headers
        .iter()
        .map(|h| SectionHeader {
            line_start: h.line_start,
            keys: text
                .get(h.inner.0..h.inner.1)
                .and_then(|inner| toml_edit::Key::parse(inner).ok())
                .map(|keys| keys.iter().map(|k| k.get().to_string()).collect())
                .unwrap_or_default(),
            array: h.array,
        })
        .collect();
    let layout = Layout {
        src: Wiped::new(src.to_vec()).into(),
        spans,
        sops_sections: sections,
        sops_inline: metadata.is_some() && scanned_sops_is_inline(&doc),
        headers,
        comment_hashes: scanned.comments.iter().map(|c| c.hash).collect(),
    };
    Ok(Parsed {
        tree: Tree {
            docs: vec![Doc { items }],
        },
        metadata,
        layout: crate::stores::Layout::new(layout),
        encoding: Default::default(),
    })
}

/// Whether the top-level `sops` entry is written as a value (`sops = {…}` or dotted keys) rather
/// than as `[sops…]` sections.
fn scanned_sops_is_inline(doc: &toml_edit::Document<&str>) -> bool {
    match doc.as_table().get("sops") {
        Some(TItem::Table(t)) => t.is_dotted(),
        Some(_) => true,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::testutil::collect;

    #[test]
    fn values_and_comments() {
        let src = "# head\na = 0x1F # int\nb.c = 'lit'\n[t]\nd = 1979-05-27\ne = [1.5, true]\n[[arr]]\nx = {y = \"z\"}\n# end\n";
        let p = parse(src.as_bytes()).unwrap();
        let leaves = collect(&p.tree);
        for (n, l) in leaves.iter().enumerate() {
            assert_eq!(l.id, n);
        }
        let vals: Vec<Scalar> = leaves.iter().map(|l| l.value.clone()).collect();
        assert_eq!(
            vals,
            vec![
                Scalar::Comment(secret(" head")),
                Scalar::Int(31),
                Scalar::Comment(secret(" int")),
                Scalar::Str(secret("lit")),
                Scalar::Str(secret("1979-05-27")),
                Scalar::Float(1.5),
                Scalar::Bool(true),
                Scalar::Str(secret("z")),
                Scalar::Comment(secret(" end")),
            ]
        );
        assert_eq!(leaves[1].text.as_deref().map(String::as_str), Some("0x1F"));
    }

    #[test]
    fn metadata_and_errors() {
        let p = parse(b"a = 1\n\n[sops]\nversion = \"3.9.0\"\n[[sops.age]]\nrecipient = \"r\"\n")
            .unwrap();
        assert!(p.metadata.is_some());
        assert_eq!(collect(&p.tree).len(), 1);
        let e = parse(b"a = \"secret\nb = 1\n").err().unwrap();
        assert!(!e.message.contains("secret"), "{e}");
        assert_eq!(e.line, Some(1));
        assert!(parse(b"a = 1\na = 2\n").is_err());
        assert!(parse(b"\xff = 1").is_err());
    }
}
