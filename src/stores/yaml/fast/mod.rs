//! A fast reading of plain block YAML, the kind nearly every configuration file (and every file
//! sops writes) is: it gives exactly the events and byte spans granit-parser gives, or declines,
//! and the reading goes on with granit-parser.
//!
//! granit-parser reads any YAML, at about 1,400 instructions a plain scalar; most of a large file's
//! reading was spent there. This reader takes the file a line at a time (ended by LF or CR LF) and
//! knows block maps and lists; keys on one line (plain, or quoted without escapes); plain and
//! single-quoted values, over several lines too (`folded`); double-quoted values on one line, with
//! escapes (`escape`); literal and folded block scalars without an indentation indicator
//! (`literal`); flow lists of scalars on one line and empty flow maps (`flow`); comments and `---`;
//! anchors on a value (a scalar on the same line, or whatever comes on the lines after) and aliases
//! as values (`anchor`). Anything else (other anchors, tags, other flow collections, other escapes,
//! tabs, a carriage return not before a line feed, control or line-separator characters,
//! directives, `...`, a document without a block collection at its root, nesting over 200, any
//! parse error) makes it decline before it gives an event for that line or the one before (a line's
//! events wait for the next line with content, as granit-parser looks at that token first).
//! [`Reading`] then starts granit-parser from the beginning and skips the events already given, so
//! a declined file costs a partial second reading and nothing else.
//!
//! What is compared with granit-parser (`compare_with_full`; unit tests over hand-written cases
//! and the corpus, and the `yaml_fast` fuzz target): every event, comments included, in order,
//! with its byte range. Its events carry their byte ranges, not granit-parser's markers (a line
//! and column nothing reads: errors come from granit-parser only), so that each event moved
//! through the queues to the tree is half as large (the copies were two fifths of the reading's
//! time, sixteenth round of docs/performance.md).

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};

use granit_parser::{Event, Placement, ScalarStyle, ScanError, StructureStyle};

use self::anchor::Anchor;
use self::lines::{
    checked_line_end, is_dash, is_marker, key_at, line_end, next_line, skip_spaces, Key,
};
pub use self::reading::Disagreement;
pub(super) use self::reading::{compare_with_full, Reading};
use super::events::EventSpan;

mod anchor;
mod escape;
mod flow;
mod folded;
mod lines;
mod literal;
mod reading;
mod value;

/// One event of a reading, with where it is (granit-parser's span turned into the byte range
/// and tag the readings use; this reader's events have no tag), or granit-parser's error.
pub(super) type Item<'a> = Result<(Event<'a>, EventSpan), ScanError>;

/// The source uses something this reader leaves to granit-parser.
#[derive(Debug)]
pub(super) struct Decline;

type Step = Result<(), Decline>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Map,
    Seq,
}

/// A block collection whose end has not come yet.
struct Open {
    kind: Kind,
    /// The column of its keys or dashes.
    indent: usize,
    /// A list at its parent map's column (`key:` then `- x` under it).
    indentless: bool,
}

/// A node whose content was not on its line: a nested collection or a scalar on the next line,
/// or else an empty value (`~`) at `null_at`; with the anchor that its line ended with.
#[derive(Clone, Copy)]
enum Pending<'a> {
    None,
    Value {
        indent: usize,
        null_at: usize,
        anchor: Option<Anchor<'a>>,
    },
    Entry {
        indent: usize,
        null_at: usize,
        anchor: Option<Anchor<'a>>,
    },
}

/// The fast reader's state between lines.
pub(super) struct Fast<'a> {
    text: &'a str,
    bytes: &'a [u8],
    /// Start of the next line to read.
    pos: usize,
    /// Start of the line being read.
    line_start: usize,
    queue: VecDeque<(Event<'a>, EventSpan)>,
    /// How many events at the queue's front may be given: those of the lines before the last
    /// line with content read. A line's events wait until the next such line reads too, since
    /// granit-parser looks at the next token before it gives some (a block scalar, the comments
    /// before it): a decline there must not leave an event given that it would not give.
    committed: usize,
    /// Comments alone on their lines wait for the next line with content: their placement
    /// depends on the token there (granit-parser leaves it "free" when that token is an error,
    /// which this reader declines), and after a pending node they come after an empty value
    /// (which lies before them) but before a nested node.
    held: Vec<(Event<'a>, EventSpan)>,
    stack: Vec<Open>,
    pending: Pending<'a>,
    /// The anchor of the next node event (given to it, then given as its own event after it,
    /// as granit-parser gives it when asked to).
    node_anchor: Option<Anchor<'a>>,
    /// The anchors of the document being read (granit-parser's are for one document), by name.
    anchors: HashMap<&'a str, usize>,
    /// The id the next anchor gets (granit-parser's count, from 1, over the whole stream).
    next_anchor_id: usize,
    started: bool,
    in_doc: bool,
    has_root: bool,
    done: bool,
}

impl<'a> Fast<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Fast {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            line_start: 0,
            queue: VecDeque::new(),
            committed: 0,
            held: Vec::new(),
            stack: Vec::new(),
            pending: Pending::None,
            node_anchor: None,
            anchors: HashMap::new(),
            next_anchor_id: 1,
            started: false,
            in_doc: false,
            has_root: false,
            done: false,
        }
    }

    /// The next event, `None` after the last, or [`Decline`].
    pub(super) fn next_event(&mut self) -> Option<Result<(Event<'a>, EventSpan), Decline>> {
        loop {
            if self.committed > 0 {
                self.committed -= 1;
                if let Some(ev) = self.queue.pop_front() {
                    return Some(Ok(ev));
                }
            }
            if self.done {
                return None;
            }
            if let Err(d) = self.read_on() {
                return Some(Err(d));
            }
        }
    }

    /// Read the next line (the reading is not done), and commit the events that may be given
    /// now; on [`Decline`], drop (and wipe) those not given.
    fn read_on(&mut self) -> Step {
        let before = self.queue.len();
        match self.step() {
            Err(d) => {
                self.done = true;
                self.discard();
                return Err(d);
            }
            Ok(_) if self.done => self.committed = self.queue.len(),
            Ok(true) => self.committed = before,
            Ok(false) => {}
        }
        Ok(())
    }

    /// [`Fast::next_event`] for as many events as `into` has room for up to `max`, moved there
    /// in runs (each event is 160 bytes; given one at a time, it was copied on its way through
    /// each wrapper, a tenth of a large file's event reading): fewer only after the last one,
    /// or [`Decline`].
    pub(super) fn fill(
        &mut self,
        into: &mut VecDeque<(Event<'a>, EventSpan)>,
        max: usize,
    ) -> Result<(), Decline> {
        while into.len() < max {
            if self.committed > 0 {
                let n = self.committed.min(self.queue.len()).min(max - into.len());
                if n == 0 {
                    self.committed -= 1;
                } else {
                    into.extend(self.queue.drain(..n));
                    self.committed -= n;
                }
                continue;
            }
            if self.done {
                return Ok(());
            }
            self.read_on()?;
        }
        Ok(())
    }

    /// Drop the events not given, wiping the values read into copies (folded, literal or
    /// unescaped scalars may be secrets).
    fn discard(&mut self) {
        for (event, _) in self.queue.iter_mut().chain(self.held.iter_mut()) {
            if let Event::Scalar(Cow::Owned(value), ..) = event {
                zeroize::Zeroize::zeroize(value);
            }
        }
        self.queue.clear();
        self.held.clear();
    }

    fn push(&mut self, event: Event<'a>, start: usize, end: usize) {
        self.queue.push_back((event, EventSpan::at(start..end)));
    }

    fn push_scalar(&mut self, value: Cow<'a, str>, style: ScalarStyle, start: usize, end: usize) {
        self.push_node(|id| Event::Scalar(value, style, id, None), start, end);
    }

    /// The document being read starts: anchors are for one document.
    fn start_document(&mut self, explicit: bool, start: usize, end: usize) {
        self.anchors.clear();
        self.push(Event::DocumentStart(explicit, None), start, end);
    }

    fn push_null(&mut self, at: usize) {
        self.push_scalar(Cow::Borrowed("~"), ScalarStyle::Plain, at, at);
    }

    /// The comment from `#` at `hash` to `end`.
    fn comment(&self, hash: usize, end: usize, placement: Placement) -> (Event<'a>, EventSpan) {
        let text = &self.text[hash + 1..end];
        let span = EventSpan::at(hash..end);
        (Event::Comment(Cow::Borrowed(text), placement), span)
    }

    fn push_comment(&mut self, hash: usize, end: usize, placement: Placement) {
        let comment = self.comment(hash, end, placement);
        self.queue.push_back(comment);
    }

    /// A comment that must wait for the next line with content (see `held`).
    fn hold_comment(&mut self, hash: usize, end: usize, placement: Placement) -> Step {
        if self.held.len() >= reading::MAX_BUFFERED_COMMENTS / 2 {
            return Err(Decline);
        }
        let comment = self.comment(hash, end, placement);
        self.held.push(comment);
        Ok(())
    }

    fn release_held(&mut self) {
        // Usually there are none: extending from an empty drain was still a fifth of a large
        // file's event reading.
        if !self.held.is_empty() {
            self.queue.extend(self.held.drain(..));
        }
    }

    /// A pending node that turned out empty: its `~`, then the comments after it.
    fn push_pending_null(&mut self, at: usize) {
        self.push_null(at);
        self.release_held();
    }

    /// Read one line (or a literal block scalar's lines): `true` for a line with content (or the
    /// end).
    fn step(&mut self) -> Result<bool, Decline> {
        if !self.started {
            self.started = true;
            self.push(Event::StreamStart, 0, 0);
            return Ok(false);
        }
        let len = self.bytes.len();
        if self.pos >= len {
            return self.finish().map(|()| true);
        }
        let start = self.pos;
        let end = checked_line_end(self.bytes, start)?;
        self.line_start = start;
        self.pos = next_line(self.bytes, end);
        let p = skip_spaces(self.bytes, start, end);
        if p == end {
            return Ok(false);
        }
        if self.bytes[p] == b'#' {
            let placement = self.own_line_placement(end);
            self.hold_comment(p, end, placement)?;
            return Ok(false);
        }
        self.content_line(p, end).map(|()| true)
    }

    /// granit-parser's placement of a comment alone on its line: above the next token when that
    /// is on the next line. (The blocks still open at the end of the stream give tokens there,
    /// so "last" is never the answer for a stream this reader reads through.)
    fn own_line_placement(&self, end: usize) -> Placement {
        let len = self.bytes.len();
        if end == len {
            return Placement::Free;
        }
        let next = next_line(self.bytes, end);
        let next_end = line_end(self.bytes, next);
        if skip_spaces(self.bytes, next, next_end) < next_end || next_end == len {
            Placement::Above
        } else {
            Placement::Free
        }
    }

    fn finish(&mut self) -> Step {
        if !self.in_doc || !self.has_root {
            return Err(Decline);
        }
        let len = self.bytes.len();
        self.end_document(len)?;
        self.push(Event::StreamEnd, len, len);
        self.done = true;
        Ok(())
    }

    /// Close the document being read at `at`.
    fn end_document(&mut self, at: usize) -> Step {
        self.resolve_pending()?;
        self.release_held();
        while !self.stack.is_empty() {
            self.close(at);
        }
        self.push(Event::DocumentEnd, at, at);
        Ok(())
    }

    fn resolve_pending(&mut self) -> Step {
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::Value {
                null_at, anchor, ..
            }
            | Pending::Entry {
                null_at, anchor, ..
            } => {
                self.node_anchor = anchor;
                self.push_pending_anchored_null(null_at)?;
            }
            Pending::None => {}
        }
        Ok(())
    }

    fn close(&mut self, at: usize) {
        if let Some(open) = self.stack.pop() {
            let event = match open.kind {
                Kind::Map => Event::MappingEnd,
                Kind::Seq => Event::SequenceEnd,
            };
            self.push(event, at, at);
        }
    }

    /// A line whose content starts at `p`, not a comment.
    fn content_line(&mut self, p: usize, end: usize) -> Step {
        let col = p - self.line_start;
        if col == 0 && is_marker(self.bytes, p, end, b'-') {
            return self.document_start(p, end);
        }
        if col == 0 && is_marker(self.bytes, p, end, b'.') {
            return Err(Decline);
        }
        if !self.in_doc {
            self.in_doc = true;
            self.has_root = false;
            self.release_held();
            self.start_document(false, p, p);
        }
        let dash = is_dash(self.bytes, p, end);
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::Value {
                indent,
                null_at,
                anchor,
            } => {
                self.node_anchor = anchor;
                if col > indent {
                    self.release_held();
                    return self.node(p, end);
                }
                if col == indent && dash {
                    self.release_held();
                    return self.list(p, end, true);
                }
                self.push_pending_anchored_null(null_at)?;
            }
            Pending::Entry {
                indent,
                null_at,
                anchor,
            } => {
                self.node_anchor = anchor;
                if col > indent {
                    self.release_held();
                    return self.node(p, end);
                }
                self.push_pending_anchored_null(null_at)?;
            }
            Pending::None => self.release_held(),
        }
        while let Some(top) = self.stack.last() {
            if top.indent > col || (top.indent == col && top.indentless && !dash) {
                self.close(p);
            } else {
                break;
            }
        }
        match self.stack.last() {
            None if self.has_root => Err(Decline),
            None => self.node(p, end),
            Some(top) if top.indent != col => Err(Decline),
            Some(Open {
                kind: Kind::Map, ..
            }) if !dash => {
                let key = key_at(self.text, p, end)?.ok_or(Decline)?;
                self.entry(key, end)
            }
            Some(Open {
                kind: Kind::Seq, ..
            }) if dash => {
                let q = skip_spaces(self.bytes, p + 1, end);
                self.list_entry(col, q, end)
            }
            Some(_) => Err(Decline),
        }
    }

    /// `---` at the start of a line: the end of the document being read, and a new one.
    fn document_start(&mut self, p: usize, end: usize) -> Step {
        if skip_spaces(self.bytes, p + 3, end) != end {
            return Err(Decline);
        }
        if self.in_doc {
            if !self.has_root {
                return Err(Decline);
            }
            self.end_document(p)?;
        }
        self.in_doc = true;
        self.has_root = false;
        self.release_held();
        self.start_document(true, p, p + 3);
        Ok(())
    }

    /// A node starting at `p` on the line being read: a list, a map, or (not at a document's
    /// root) a value.
    fn node(&mut self, p: usize, end: usize) -> Step {
        if is_dash(self.bytes, p, end) {
            return self.list(p, end, false);
        }
        if let Some(key) = key_at(self.text, p, end)? {
            self.has_root = true;
            self.push_node(
                |id| Event::MappingStart(StructureStyle::Block, id, None),
                p,
                p,
            );
            self.open_block(Kind::Map, p - self.line_start, false)?;
            return self.entry(key, end);
        }
        if self.stack.is_empty() {
            return Err(Decline);
        }
        self.value(p, end)
    }

    /// A block collection starts (declined past [`MAX_DEPTH`]).
    fn open_block(&mut self, kind: Kind, indent: usize, indentless: bool) -> Step {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Decline);
        }
        self.stack.push(Open {
            kind,
            indent,
            indentless,
        });
        Ok(())
    }

    /// A list whose first dash is at `p`.
    fn list(&mut self, p: usize, end: usize, indentless: bool) -> Step {
        let col = p - self.line_start;
        let q = skip_spaces(self.bytes, p + 1, end);
        // granit-parser places a list under its key's column at its first entry's content.
        let at = match (indentless, self.bytes.get(q)) {
            (false, _) => p,
            (true, Some(b'#')) => return Err(Decline),
            (true, _) if q == end => end,
            (true, _) => q,
        };
        self.has_root = true;
        self.push_node(
            |id| Event::SequenceStart(StructureStyle::Block, id, None),
            at,
            at,
        );
        self.open_block(Kind::Seq, col, indentless)?;
        self.list_entry(col, q, end)
    }

    /// A list entry whose dash is at column `col`, its content (if any) at `q`.
    fn list_entry(&mut self, col: usize, q: usize, end: usize) -> Step {
        if q == end || self.bytes[q] == b'#' {
            if q < end {
                self.push_comment(q, end, Placement::Right);
            }
            self.pending = Pending::Entry {
                indent: col,
                null_at: end,
                anchor: None,
            };
            return Ok(());
        }
        if self.bytes[q] == b'&' {
            return self.anchored_value(q, end, false, |anchor| Pending::Entry {
                indent: col,
                null_at: anchor.end,
                anchor: Some(anchor),
            });
        }
        self.node(q, end)
    }

    /// A map entry whose key was read; the value follows its colon.
    fn entry(&mut self, key: Key<'a>, end: usize) -> Step {
        let indent = self.indent();
        self.push_scalar(key.value, key.style, key.start, key.end);
        let q = skip_spaces(self.bytes, key.colon + 1, end);
        if q == end || self.bytes[q] == b'#' {
            if q < end {
                self.hold_comment(q, end, Placement::Right)?;
            }
            self.pending = Pending::Value {
                indent,
                null_at: key.colon,
                anchor: None,
            };
            return Ok(());
        }
        if self.bytes[q] == b'&' {
            return self.anchored_value(q, end, true, |anchor| Pending::Value {
                indent,
                null_at: anchor.end,
                anchor: Some(anchor),
            });
        }
        self.value(q, end)
    }

    /// The innermost block's indentation.
    fn indent(&self) -> usize {
        self.stack.last().map_or(0, |o| o.indent)
    }
}

impl Drop for Fast<'_> {
    fn drop(&mut self) {
        self.discard();
    }
}

/// Deepest nesting read here (granit-parser refuses blocks nested over 255 deep).
const MAX_DEPTH: usize = 200;

#[cfg(test)]
mod tests;
