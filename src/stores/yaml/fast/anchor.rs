//! Anchors and aliases in the fast reading: an anchor (`&name`) on the value after `key:` or `-`
//! gives its id to that node's event, followed by an `Anchor` event, and an alias (`*name`) as a
//! whole value gives an `Alias` event, as granit-parser gives them (ids counted from 1 over the
//! stream, names forgotten at each document). Names are read when they are of the plain kind,
//! letters, digits, `_`, `-` and `.` (what nearly every real file uses), ended by a space or the
//! line's end; granit-parser takes any character but spaces and flow indicators into a name, so
//! any other name is left to it.

use std::borrow::Cow;

use granit_parser::{Event, Placement};

use super::lines::skip_spaces;
use super::{Decline, Fast, Pending, Step};

/// The end of the name that starts at `p` (after its `&` or `*`), on the line ending at `end`.
pub(super) fn name_end(bytes: &[u8], p: usize, end: usize) -> Result<usize, Decline> {
    let mut q = p;
    while q < end
        && matches!(bytes[q], b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.')
    {
        q += 1;
    }
    if q == p || (q < end && bytes[q] != b' ') {
        return Err(Decline);
    }
    Ok(q)
}

/// An anchor (`&name`) read before the node it names: its id, its name, and its token's span.
#[derive(Clone, Copy)]
pub(super) struct Anchor<'a> {
    pub(super) id: usize,
    pub(super) name: &'a str,
    pub(super) start: usize,
    pub(super) end: usize,
}

impl<'a> Fast<'a> {
    /// A node's event, with the anchor read before it (if any), then that anchor's own event.
    pub(super) fn push_node(
        &mut self,
        event: impl FnOnce(usize) -> Event<'a>,
        start: usize,
        end: usize,
    ) {
        let anchor = self.node_anchor.take();
        self.push(event(anchor.map_or(0, |a| a.id)), start, end);
        if let Some(a) = anchor {
            self.push(Event::Anchor(a.id, Cow::Borrowed(a.name)), a.start, a.end);
        }
    }

    /// The anchor whose `&` is at `p`, registered under its name; declined unless its name is
    /// one of the plain kind (letters, digits, `_`, `-`, `.`) ended by a space or the line's end.
    fn anchor(&mut self, p: usize, end: usize) -> Result<Anchor<'a>, Decline> {
        let name_end = name_end(self.bytes, p + 1, end)?;
        let id = self.next_anchor_id;
        self.next_anchor_id = id.checked_add(1).ok_or(Decline)?;
        let name = &self.text[p + 1..name_end];
        self.anchors.insert(name, id);
        Ok(Anchor {
            id,
            name,
            start: p,
            end: name_end,
        })
    }

    /// An alias (`*name`) at `p`, as a whole value: declined unless its name is one of the plain
    /// kind and names an anchor of this document.
    pub(super) fn alias(&mut self, p: usize, end: usize) -> Step {
        let name_end = name_end(self.bytes, p + 1, end)?;
        let id = *self
            .anchors
            .get(&self.text[p + 1..name_end])
            .ok_or(Decline)?;
        self.push(Event::Alias(id), p, name_end);
        self.line_tail(name_end, end)
    }

    /// The value after `key:` or `-` that starts with the anchor at `q`: on this line, or on the
    /// lines after (`pending` makes what waits for them) when the anchor ends the line, or (after
    /// `key:` only: `comment_after`) a comment after it, held as after `key:` alone.
    pub(super) fn anchored_value(
        &mut self,
        q: usize,
        end: usize,
        comment_after: bool,
        pending: impl FnOnce(Anchor<'a>) -> Pending<'a>,
    ) -> Step {
        let anchor = self.anchor(q, end)?;
        let r = skip_spaces(self.bytes, anchor.end, end);
        let comment = comment_after && r < end && r > anchor.end && self.bytes[r] == b'#';
        if comment {
            self.hold_comment(r, end, Placement::Right)?;
        }
        if comment || r == end {
            self.pending = pending(anchor);
            return Ok(());
        }
        self.node_anchor = Some(anchor);
        self.value(r, end)
    }

    /// A pending node that turned out empty, with the anchor its line ended with (if any, as
    /// [`Fast::node_anchor`]). Declined when that anchor has comments after it: granit-parser
    /// gives those before the anchored empty value, not after it as after an empty one.
    pub(super) fn push_pending_anchored_null(&mut self, at: usize) -> Step {
        if self.node_anchor.is_some() && !self.held.is_empty() {
            return Err(Decline);
        }
        self.push_pending_null(at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_the_plain_kind_end_at_a_space_or_the_line_end() {
        let line = b"&base-1.x rest";
        assert_eq!(name_end(line, 1, line.len()).ok(), Some(9));
        assert_eq!(name_end(b"*a", 1, 2).ok(), Some(2));
        for other in [
            &b"&"[..],
            b"& x",
            b"&a:",
            b"&a,b",
            b"&a]",
            b"&\xc3\xa9",
            b"&a\tb",
        ] {
            assert!(name_end(other, 1, other.len()).is_err(), "{other:?}");
        }
    }
}
