//! A large document's root map, or the collection below it that holds most of it, converted in
//! two halves, the second on a thread of its own: on a command's input the conversion was the
//! longest stretch with one core idle (a 200,000-value file: 90-110 ms of an encryption's or a
//! decryption's 450-700, fifteenth round). The halves' leaves get the ids a conversion on one
//! thread gives (in document order), so the tree, the spans and every error are the same; the
//! tests compare the two.

use std::collections::{HashMap, HashSet};

use super::{Converter, ItemList, ValueContext};
use crate::stores::yaml::feed::here_and_beside;
use crate::stores::yaml::node::{Node, NodeKind};
use crate::stores::yaml::typing::type_scalar;
use crate::stores::StoreError;
use crate::tree::{Item, Scalar, Value};

/// Documents with at least this many values are converted in halves (where the caller allows):
/// every document of two values or more in unit tests, so that the corpus test of the readings on
/// one and two threads takes this path.
pub(in crate::stores::yaml) const HALVES_FROM: usize = if cfg!(test) { 2 } else { 4096 };

#[cfg(test)]
thread_local! {
    /// How many collections this thread converted in halves.
    static HALVED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl<'a> Converter<'a> {
    /// The container in `root` (a document's root) to convert in halves when it is met
    /// ([`Converter::items_in_halves`]): the first block collection of two entries or more (of
    /// distinct string keys, for a map) that can be cut where each side has at least a quarter
    /// of its bytes, the root itself or, where it cannot be cut so (a Kubernetes manifest's root
    /// is a few small entries and a `spec` that holds nearly all of it: a second thread would
    /// convert that one while this one waited), found by following the largest value down while
    /// it holds at least half of its parent and a quarter of the document. `None` where there
    /// is none, or where the document has anchors or comments (each half converts its own nodes
    /// and nothing else).
    pub(in crate::stores::yaml) fn halving_target(&self, root: &Node) -> Option<usize> {
        if !self.real || !self.anchors.is_empty() || !self.comments.is_empty() {
            return None;
        }
        let total = root.end().saturating_sub(root.start());
        let mut n = root;
        loop {
            let size = n.end().saturating_sub(n.start());
            if size < total / 4 {
                return None;
            }
            // The largest value, from its key or its dash.
            let (start, largest) = match &n.kind {
                NodeKind::Map {
                    entries,
                    flow: false,
                    container_id,
                } => {
                    if split_at(entries).is_some() && distinct_string_keys(entries) {
                        return Some(*container_id);
                    }
                    entries
                        .iter()
                        .map(|(k, v)| (k.start(), v))
                        .max_by_key(|(start, v)| v.end().saturating_sub(*start))?
                }
                NodeKind::Seq {
                    elems,
                    flow: false,
                    container_id,
                } => {
                    if elem_split_at(elems).is_some() {
                        return Some(*container_id);
                    }
                    elems
                        .iter()
                        .map(|(d, e)| (*d, e))
                        .max_by_key(|(start, v)| v.end().saturating_sub(*start))?
                }
                _ => return None,
            };
            if largest.end().saturating_sub(start) * 2 < size {
                return None;
            }
            n = largest;
        }
    }

    /// The entries of `n` (a map or a list, for which [`Converter::halving_target`] gave its
    /// container; context `ctx`, its own flow style included) into `list`, the second half
    /// converted on a thread of its own.
    pub(super) fn items_in_halves(
        &mut self,
        n: Node<'_>,
        ctx: ValueContext,
        list: &mut ItemList,
    ) -> Result<(), StoreError> {
        let start = n.start();
        match n.kind {
            NodeKind::Map { mut entries, .. } => {
                let Some(at) = split_at(&entries) else {
                    return self.map_items(start, entries, ctx, list, false).map(drop);
                };
                let second = entries.split_off(at);
                self.in_two(entries, second, list, |conv, part, list| {
                    conv.map_items(start, part, ctx, list, false).map(drop)
                })
            }
            NodeKind::Seq { mut elems, .. } => {
                let Some(at) = elem_split_at(&elems) else {
                    return self.seq_items(elems, ctx, list, false).map(drop);
                };
                let second = elems.split_off(at);
                self.in_two(elems, second, list, |conv, part, list| {
                    conv.seq_items(part, ctx, list, false).map(drop)
                })
            }
            _ => Ok(()),
        }
    }

    /// `first` converted here into `list` and `second` on a thread of its own by `convert`, then
    /// its items added after, with the ids a conversion of both in order gives; the first
    /// half's error is the one a conversion in order meets first.
    fn in_two<T: Send>(
        &mut self,
        first: Vec<T>,
        second: Vec<T>,
        list: &mut ItemList,
        convert: impl Fn(&mut Converter<'a>, Vec<T>, &mut ItemList) -> Result<(), StoreError> + Sync,
    ) -> Result<(), StoreError> {
        #[cfg(test)]
        HALVED.with(|h| h.set(h.get() + 1));
        let (src, lend) = (self.src, self.lend);
        let convert_second = |part: Vec<T>| {
            let mut conv = Converter::new(src, HashMap::new(), true);
            conv.lend = lend;
            let mut list = ItemList {
                items: Vec::with_capacity(part.len()),
                comments: Vec::new(),
                next_comment: 0,
            };
            convert(&mut conv, part, &mut list).map(|()| (list.items, conv.spans))
        };
        let (first, second) =
            here_and_beside(|| convert(self, first, list), second, convert_second);
        first?;
        let (mut rest, spans) = second?;
        let offset = self.spans.len();
        for item in &mut rest {
            shift_ids(item, offset);
        }
        self.spans.extend(spans);
        list.items.append(&mut rest);
        Ok(())
    }
}

/// Whether a map's keys are distinct strings: a duplicate key (which halves would not see if it
/// is in both) is reported by the conversion on one thread, in its place among the other errors.
fn distinct_string_keys(entries: &[(Node, Node)]) -> bool {
    let mut keys = HashSet::with_capacity(entries.len());
    entries.iter().all(|(k, _)| match &k.kind {
        NodeKind::Scalar {
            value, style, tag, ..
        } => {
            matches!(
                type_scalar(value, *style, tag, || 0),
                Ok((Scalar::Str(_), _))
            ) && keys.insert(&**value)
        }
        _ => false,
    })
}

/// Where to cut a list's elements so that each side has at least a quarter of their bytes.
fn elem_split_at(elems: &[(usize, Node)]) -> Option<usize> {
    balanced_cut(elems, |(dash, _)| *dash, elems.last()?.1.end())
}

/// Where to cut a map's entries so that each side has at least a quarter of their bytes.
fn split_at(entries: &[(Node, Node)]) -> Option<usize> {
    balanced_cut(entries, |(key, _)| key.start(), entries.last()?.1.end())
}

/// Where to cut `parts` (each starting at `start_of`, the last ending at `end`): before the
/// first part that starts past the middle, where each side has at least a quarter of the bytes;
/// `None` where that cut does not.
fn balanced_cut<T>(parts: &[T], start_of: impl Fn(&T) -> usize, end: usize) -> Option<usize> {
    let start = start_of(parts.first()?);
    let end = end.max(start);
    let middle = start + (end - start) / 2;
    let at = parts
        .partition_point(|p| start_of(p) < middle)
        .clamp(1, parts.len().saturating_sub(1).max(1));
    let cut = start_of(parts.get(at)?) - start;
    let quarter = (end - start) / 4;
    (cut >= quarter && end - start - cut >= quarter).then_some(at)
}

/// Add `offset` to the id of every leaf of `item`.
pub(in crate::stores::yaml) fn shift_ids(item: &mut Item, offset: usize) {
    match item {
        Item::Comment(leaf) => leaf.id += offset,
        Item::Pair { value, .. } | Item::Elem(value) => match value {
            Value::Leaf(leaf) => leaf.id += offset,
            Value::Map(items) | Value::List(items) => {
                for item in items {
                    shift_ids(item, offset);
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::HALVED;
    use crate::stores::yaml::feed::tests::same_on_two_threads;

    /// Read `text` on one thread and on two: the same tree, metadata and layout, or the same
    /// error. Whether the reading on two threads converted a collection in halves (the one on
    /// one thread never does).
    fn alike(text: &str) -> bool {
        let before = HALVED.with(|h| h.get());
        same_on_two_threads(text);
        HALVED.with(|h| h.get()) > before
    }

    fn groups(n: usize, second_half: &str) -> String {
        let mut text = String::new();
        for g in 0..n {
            text.push_str(&format!(
                "g{g}:\n  s: \"v {g}\"\n  n: {g}\n  f: 1.5\n  b: true\n  z: null\n  l:\n    - x\n    - [1, {{k: v}}]\n  m: |\n    block {g}\n"
            ));
            if g == n * 3 / 4 {
                text.push_str(second_half);
            }
        }
        text
    }

    #[test]
    fn halves_read_as_one_thread_reads() {
        assert!(alike(&groups(400, "")));
        // With its `sops` entry and a small document after it (documents of more even sizes
        // are converted apart instead: parse.rs).
        assert!(alike(&format!(
            "{}sops:\n  version: 3.9.0\n---\n{}",
            groups(300, ""),
            groups(20, "")
        )));
        // Errors in one half or in both: the first in the document is reported.
        let bad_key = "bad:\n  {1: a}: b\n";
        assert!(alike(&groups(400, bad_key)));
        assert!(alike(&format!(
            "first:\n  {{1: a}}: b\n{}",
            groups(400, bad_key)
        )));
        assert!(alike(&format!(
            "first:\n  {{1: a}}: b\n{}",
            groups(400, "")
        )));
    }

    #[test]
    fn what_the_halves_would_not_see_is_read_on_one_thread() {
        // A key in both halves, a comment, an anchor, a key that is not a string, a flow root.
        assert!(!alike(&groups(400, "g1: again\n")));
        assert!(!alike(&groups(400, "# a comment\n")));
        assert!(!alike(&groups(400, "a: &x 1\nb: *x\n")));
        assert!(!alike(&groups(400, "1: one\n")));
        assert!(!alike("{a: 1, b: 2, c: [3, 4]}\n"));
    }

    #[test]
    fn a_collection_below_the_root_is_halved_as_one_thread_reads() {
        // A root whose last entry holds nearly all of it, as a Kubernetes manifest's: the map
        // below it is halved, or a list further down.
        let nested = groups(400, "").replace('\n', "\n  ");
        assert!(alike(&format!(
            "apiVersion: v1\nkind: List\nspec:\n  {nested}\n"
        )));
        let listed: String = (0..300)
            .map(|i| format!("  - name: v{i}\n    n: {i}\n    m:\n      k: [x, {i}]\n"))
            .collect();
        assert!(alike(&format!("kind: List\nitems:\n{listed}after: 1\n")));
        // Errors in either half, and in a leaf after the halved collection.
        let bad_key = "bad:\n  {1: a}: b\n";
        let nested_bad = groups(400, bad_key).replace('\n', "\n  ");
        assert!(alike(&format!("a: 1\nspec:\n  {nested_bad}\n")));
        let nested_bad =
            format!("first:\n  {{1: a}}: b\n{}", groups(400, bad_key)).replace('\n', "\n  ");
        assert!(alike(&format!("a: 1\nspec:\n  {nested_bad}\n")));
        assert!(alike(&format!("spec:\n  {nested}\nz: !!int x\n")));
        // Not halved: a duplicate key below (the conversion in order reports it), a comment or
        // an anchor in the document, a flow collection, a value that is one scalar.
        let twice = groups(400, "g1: again\n").replace('\n', "\n  ");
        assert!(!alike(&format!("a: 1\nspec:\n  {twice}\n")));
        assert!(!alike(&format!("# c\nspec:\n  {nested}\n")));
        assert!(!alike(&format!("a: &x 1\nb: *x\nspec:\n  {nested}\n")));
        assert!(!alike(&format!("a: 1\nspec: [{}]\n", "x, ".repeat(400))));
        assert!(!alike(&format!("a: 1\nspec: \"{}\"\n", "x".repeat(4000))));
    }
}
