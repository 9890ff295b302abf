//! `set` and `unset` as text edits of a plaintext YAML file (first document only, as sops): new
//! entries and list elements are inserted after the last one of their collection, replaced
//! values are re-emitted in their span, removed entries lose exactly their lines. Everything
//! else (comments, blank lines, quoting, layout) is kept byte for byte.

use super::edit_text::{Editor, Replacement};
use super::edits::into_vec;
use super::emitter::{indent_from, Emitter};
use super::events::read_events;
use super::feed::Threads;
use super::layout::Layout;
use super::node::{Node, NodeKind};
use super::source::Source;
use crate::stores::{StoreError, StoreOptions};
use crate::tree::{Item, Value};
use crate::treepath::{build, Step};
use crate::wipe::Wiped;

/// How a node sits in its parent.
#[derive(Clone, Copy)]
enum Slot<'n> {
    /// The top-level map of the document.
    Root,
    /// The value of `key` in a map whose keys sit at `col`.
    Entry {
        key: &'n Node<'n>,
        flow: bool,
        col: usize,
    },
    /// An element of a sequence (`dash` and its column for block sequences).
    Elem { dash: usize, flow: bool, col: usize },
}

impl Editor<'_> {
    /// Replace the node in `slot` with `v`.
    fn replace(&self, node: &Node, slot: Slot, v: &Value) -> Option<Replacement> {
        let (mark, flow, col, in_seq) = match slot {
            Slot::Root => return None,
            Slot::Entry { key, flow, col } => (self.colon_after(key)?, flow, col, false),
            Slot::Elem { dash, flow, col } => (dash, flow, col, true),
        };
        if flow {
            if Self::is_empty(node) {
                return Some((mark + 1, mark + 1, format!(" {}", Self::flow_text(v))));
            }
            return Some((node.start(), node.end(), Self::flow_text(v)));
        }
        let start = mark + 1;
        let end = if Self::is_empty(node) {
            start
        } else {
            self.trimmed_end(node).max(start)
        };
        let text = self.block_after(v, col, in_seq);
        // Comments on the line of the `:`/`-` (when the old value started below it) and after
        // the old value move with the new text: after its first line.
        let mark_line_end = self.line_text_end(mark);
        let c1 = if node.start() > mark_line_end {
            self.comment_in(start, mark_line_end)
        } else {
            None
        };
        let after_end = self.line_text_end(end);
        let c2 = self.comment_in(end, after_end);
        let (head, tail) = match text.find(self.nl) {
            Some(p) => (&text[..p], &text[p..]),
            None => (text.as_str(), ""),
        };
        let b = self.bytes();
        let word = |(s, e): (usize, usize)| String::from_utf8_lossy(&b[s..e]).into_owned();
        let mut t = head.to_string();
        if let Some(c) = c1 {
            t.push(' ');
            t.push_str(&word(c));
        }
        let mut end = end;
        if let (Some(c), false) = (c2, tail.is_empty()) {
            t.push(' ');
            t.push_str(&word(c));
            end = c.1;
        }
        t.push_str(tail);
        Some((start, end, t))
    }

    fn set_in(
        &self,
        node: &Node,
        slot: Slot,
        flow_ctx: bool,
        steps: &[Step],
        v: &Value,
    ) -> Option<Replacement> {
        let Some((first, rest)) = steps.split_first() else {
            return self.replace(node, slot, v);
        };
        match (&node.kind, first) {
            (NodeKind::Map { flow, entries, .. }, Step::Key(k)) => {
                let flow = *flow || flow_ctx;
                let col = entries
                    .first()
                    .map_or(0, |(key, _)| self.src.col(key.start()));
                for (key, val) in entries {
                    match &key.kind {
                        NodeKind::Scalar { value, .. } if &**value == k.as_str() => {
                            let s = Slot::Entry { key, flow, col };
                            return self.set_in(val, s, flow, rest, v);
                        }
                        NodeKind::Scalar { .. } => {}
                        _ => return None,
                    }
                }
                self.insert_entry(node, flow, k, &build(rest, v.clone()))
            }
            (NodeKind::Seq { flow, elems, .. }, Step::Index(i)) => {
                let flow = *flow || flow_ctx;
                let col = elems.first().map_or(0, |(d, _)| self.src.col(*d));
                match elems.get(*i) {
                    Some((dash, e)) => {
                        let s = Slot::Elem {
                            dash: *dash,
                            flow,
                            col,
                        };
                        self.set_in(e, s, flow, rest, v)
                    }
                    None => self.append_elem(node, flow, &build(rest, v.clone())),
                }
            }
            (NodeKind::Alias { .. }, _) => None,
            (NodeKind::Map { .. }, Step::Index(_)) if matches!(slot, Slot::Root) => {
                // sops leaves the tree alone for an index on the top-level map.
                Some((0, 0, String::new()))
            }
            _ => self.replace(node, slot, &build(steps, v.clone())),
        }
    }

    fn insert_entry(&self, map: &Node, flow: bool, k: &str, v: &Value) -> Option<Replacement> {
        let NodeKind::Map { entries, .. } = &map.kind else {
            return None;
        };
        if flow {
            let entry = format!("{}: {}", Self::key_text(k, true), Self::flow_text(v));
            return match entries.last() {
                Some((lk, lv)) => {
                    let at = lk.end().max(lv.end());
                    Some((at, at, format!(", {entry}")))
                }
                None => {
                    let close = map.end().checked_sub(1)?;
                    (self.bytes().get(close) == Some(&b'}')).then_some((close, close, entry))
                }
            };
        }
        let (lk, lv) = entries.last()?;
        let col = self.src.col(entries.first()?.0.start());
        let mut em = Emitter::new(self.indent);
        em.map(&[Item::pair(k, v.clone())], col, false);
        Some(self.lines_at(self.after_node(lv, lk.end()), &em.out))
    }

    fn append_elem(&self, seq: &Node, flow: bool, v: &Value) -> Option<Replacement> {
        let NodeKind::Seq { elems, .. } = &seq.kind else {
            return None;
        };
        if flow {
            return match elems.last() {
                Some((_, le)) => Some((le.end(), le.end(), format!(", {}", Self::flow_text(v)))),
                None => {
                    let close = seq.end().checked_sub(1)?;
                    (self.bytes().get(close) == Some(&b']'))
                        .then(|| (close, close, Self::flow_text(v)))
                }
            };
        }
        let (ld, le) = elems.last()?;
        let col = self.src.col(elems.first()?.0);
        let mut em = Emitter::new(self.indent);
        em.seq(&[Item::Elem(v.clone())], col, false);
        Some(self.lines_at(self.after_node(le, ld + 1), &em.out))
    }

    fn unset_in(
        &self,
        node: &Node,
        slot: Slot,
        flow_ctx: bool,
        steps: &[Step],
    ) -> Option<Replacement> {
        let (first, rest) = steps.split_first()?;
        match (&node.kind, first) {
            (NodeKind::Map { flow, entries, .. }, Step::Key(k)) => {
                let flow = *flow || flow_ctx;
                let col = entries
                    .first()
                    .map_or(0, |(key, _)| self.src.col(key.start()));
                let idx = entries.iter().position(
                    |(key, _)| matches!(&key.kind, NodeKind::Scalar { value, .. } if &**value == k.as_str()),
                )?;
                let (key, val) = &entries[idx];
                if rest.is_empty() {
                    self.remove_entry(node, slot, flow, idx)
                } else {
                    self.unset_in(val, Slot::Entry { key, flow, col }, flow, rest)
                }
            }
            (NodeKind::Seq { flow, elems, .. }, Step::Index(i)) => {
                let flow = *flow || flow_ctx;
                let col = elems.first().map_or(0, |(d, _)| self.src.col(*d));
                let (dash, e) = elems.get(*i)?;
                if rest.is_empty() {
                    self.remove_elem(node, slot, flow, *i)
                } else {
                    let s = Slot::Elem {
                        dash: *dash,
                        flow,
                        col,
                    };
                    self.unset_in(e, s, flow, rest)
                }
            }
            _ => None,
        }
    }

    fn remove_entry(&self, map: &Node, slot: Slot, flow: bool, idx: usize) -> Option<Replacement> {
        let NodeKind::Map { entries, .. } = &map.kind else {
            return None;
        };
        let (k, v) = entries.get(idx)?;
        let end = |k: &Node, v: &Node| k.end().max(v.end());
        if flow {
            return Some(if entries.len() == 1 {
                (map.start() + 1, map.end().checked_sub(1)?, String::new())
            } else if let Some((nk, _)) = entries.get(idx + 1) {
                (k.start(), nk.start(), String::new())
            } else {
                let (pk, pv) = entries.get(idx.checked_sub(1)?)?;
                (end(pk, pv), end(k, v), String::new())
            });
        }
        if entries.len() == 1 && !matches!(slot, Slot::Root) {
            return self.replace(map, slot, &Value::Map(Vec::new()));
        }
        let last = self.trimmed_end(v).max(k.end());
        if self.first_on_line(k.start()) {
            let ls = self.src.line_start(k.start());
            return Some((ls, self.line_after(last), String::new()));
        }
        // The first key of a sequence element (`- k: v`): pull the next key up.
        let (nk, _) = entries.get(idx + 1).filter(|_| idx == 0)?;
        Some((k.start(), nk.start(), String::new()))
    }

    fn remove_elem(&self, seq: &Node, slot: Slot, flow: bool, idx: usize) -> Option<Replacement> {
        let NodeKind::Seq { elems, .. } = &seq.kind else {
            return None;
        };
        let (d, e) = elems.get(idx)?;
        if flow {
            return Some(if elems.len() == 1 {
                (seq.start() + 1, seq.end().checked_sub(1)?, String::new())
            } else if let Some((_, ne)) = elems.get(idx + 1) {
                (e.start(), ne.start(), String::new())
            } else {
                let (_, pe) = elems.get(idx.checked_sub(1)?)?;
                (pe.end(), e.end(), String::new())
            });
        }
        if elems.len() == 1 {
            return self.replace(seq, slot, &Value::List(Vec::new()));
        }
        let last = self.trimmed_end(e).max(d + 1);
        if self.first_on_line(*d) {
            let ls = self.src.line_start(*d);
            return Some((ls, self.line_after(last), String::new()));
        }
        let (nd, _) = elems.get(idx + 1).filter(|_| idx == 0)?;
        Some((*d, *nd, String::new()))
    }
}

/// Run `f` on the first document of the plaintext source; apply its edit.
fn with_doc(
    layout: &Layout,
    options: &StoreOptions,
    f: impl FnOnce(&Editor, Option<&Node>, usize) -> Option<Replacement>,
) -> Result<Option<Vec<u8>>, StoreError> {
    let src_bytes: &[u8] = &layout.src;
    let base = if src_bytes.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let text = std::str::from_utf8(&src_bytes[base..])
        .map_err(|_| StoreError::new("invalid UTF-8 in YAML input"))?;
    let src = Source::new(text);
    let docs = read_events(&src, Threads::One)?;
    let indent = indent_from(options.indent)?.unwrap_or(layout.indent);
    let ctx = Editor {
        src: &src,
        nl: if layout.crlf { "\r\n" } else { "\n" },
        indent,
    };
    let (root, end) = match docs.first() {
        Some(d) => (d.root.as_ref(), d.end.min(text.len())),
        None => (None, text.len()),
    };
    let root = root.filter(|r| !Editor::is_empty(r) || !matches!(r.kind, NodeKind::Scalar { .. }));
    let Some((mut s, e, t)) = f(&ctx, root, end) else {
        return Ok(None);
    };
    let b = text.as_bytes();
    if t.is_empty() && e == b.len() && e > s && !b.ends_with(b"\n") && s > 0 && b[s - 1] == b'\n' {
        // The last line, without a line break, removed: the line break before it goes too.
        s -= 1;
        if s > 0 && b[s - 1] == b'\r' {
            s -= 1;
        }
    }
    let mut out = Wiped::new(Vec::with_capacity(src_bytes.len() + t.len()));
    out.extend_from_slice(&src_bytes[..base + s]);
    out.extend_from_slice(t.as_bytes());
    out.extend_from_slice(&src_bytes[base + e..]);
    Ok(Some(into_vec(out)))
}

pub(crate) fn set_at(
    layout: &Layout,
    steps: &[Step],
    value: &Value,
    options: &StoreOptions,
) -> Result<Option<Vec<u8>>, StoreError> {
    with_doc(layout, options, |ctx, root, doc_end| match root {
        Some(r) if matches!(r.kind, NodeKind::Map { .. }) => {
            ctx.set_in(r, Slot::Root, false, steps, value)
        }
        Some(_) => None,
        None => match steps.split_first() {
            Some((Step::Key(k), rest)) => {
                // An empty document: the first key.
                let mut em = Emitter::new(ctx.indent);
                em.map(
                    &[Item::pair(k.as_str(), build(rest, value.clone()))],
                    0,
                    false,
                );
                let b = ctx.bytes();
                let at = if doc_end == 0 || doc_end >= b.len() || b[doc_end - 1] == b'\n' {
                    doc_end
                } else {
                    ctx.line_after(doc_end)
                };
                Some(ctx.lines_at(at, &em.out))
            }
            _ => Some((0, 0, String::new())),
        },
    })
}

pub(crate) fn unset_at(layout: &Layout, steps: &[Step]) -> Result<Option<Vec<u8>>, StoreError> {
    with_doc(
        layout,
        &StoreOptions::default(),
        |ctx, root, _| match root {
            Some(r) if matches!(r.kind, NodeKind::Map { .. }) => {
                ctx.unset_in(r, Slot::Root, false, steps)
            }
            _ => None,
        },
    )
}
