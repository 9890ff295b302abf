//! The fast reading's values on a line: a scalar (plain, quoted, a block scalar's header), a
//! flow list of scalars, an empty flow map, an alias; and what may follow one on its line.

use std::borrow::Cow;

use granit_parser::{Event, Placement, ScalarStyle, StructureStyle};

use super::escape::double_quoted;
use super::folded::{plain_goes_on, Folded};
use super::lines::{
    closing_quote, plain_start, scan_plain, single_quoted_value, skip_spaces, Stop,
};
use super::literal::{self, LiteralLines};
use super::{flow, Decline, Fast, Step};

impl Fast<'_> {
    /// A value starting at `p` that is not a collection of its own lines.
    pub(super) fn value(&mut self, p: usize, end: usize) -> Step {
        let bytes = self.bytes;
        // An anchor on a flow collection or a block scalar, on an alias, twice, or before a
        // comment (granit-parser gives the comment first) is left to granit-parser.
        if self.node_anchor.is_some()
            && matches!(bytes[p], b'[' | b'{' | b'|' | b'>' | b'*' | b'&' | b'#')
        {
            return Err(Decline);
        }
        match bytes[p] {
            b'"' => {
                let (close, value) = double_quoted(self.text, p, end)?;
                self.push_scalar(value, ScalarStyle::DoubleQuoted, p, close + 1);
                self.line_tail(close + 1, end)
            }
            b'\'' => match closing_quote(bytes, p + 1, end) {
                Some(close) => {
                    let inner = &self.text[p + 1..close];
                    let value = single_quoted_value(inner);
                    self.push_scalar(value, ScalarStyle::SingleQuoted, p, close + 1);
                    self.line_tail(close + 1, end)
                }
                None => {
                    let folded = Folded::read(bytes, (p, end), self.pos, self.indent(), true)?;
                    let value = Cow::Owned(folded.value(self.text, true));
                    self.push_scalar(value, ScalarStyle::SingleQuoted, p, folded.end);
                    self.pos = folded.resume;
                    self.line_tail(folded.end, folded.last_line_end)
                }
            },
            b'[' => {
                let (elements, close) = flow::flow_list(self.text, p, end)?;
                self.push(
                    Event::SequenceStart(StructureStyle::Flow, 0, None),
                    p,
                    p + 1,
                );
                for e in elements {
                    self.push_scalar(e.value, e.style, e.start, e.end);
                }
                self.push(Event::SequenceEnd, close, close + 1);
                self.line_tail(close + 1, end)
            }
            b'{' => {
                let close = skip_spaces(bytes, p + 1, end);
                if bytes.get(close) != Some(&b'}') || close >= end {
                    return Err(Decline);
                }
                self.push(Event::MappingStart(StructureStyle::Flow, 0, None), p, p + 1);
                self.push(Event::MappingEnd, close, close + 1);
                self.line_tail(close + 1, end)
            }
            // granit-parser's block scalar starts at its content, which would be the token a
            // comment before a header alone on its line sits above: left to it.
            b'|' | b'>' if skip_spaces(bytes, self.line_start, end) == p => Err(Decline),
            b'|' | b'>' => self.literal(p, end),
            b'*' => self.alias(p, end),
            _ if plain_start(bytes, p, end) => match scan_plain(bytes, p, end) {
                (_, Stop::Colon(_)) => Err(Decline),
                (stop_at, Stop::Eol) if plain_goes_on(bytes, self.pos, self.indent()) => {
                    let folded = Folded::read(bytes, (p, stop_at), self.pos, self.indent(), false)?;
                    let value = Cow::Owned(folded.value(self.text, false));
                    self.push_scalar(value, ScalarStyle::Plain, p, folded.end);
                    self.pos = folded.resume;
                    if let Some(hash) = folded.comment {
                        self.push_comment(hash, folded.last_line_end, Placement::Right);
                    }
                    Ok(())
                }
                (stop_at, stop) => {
                    let value = Cow::Borrowed(&self.text[p..stop_at]);
                    self.push_scalar(value, ScalarStyle::Plain, p, stop_at);
                    if let Stop::Comment(hash) = stop {
                        self.push_comment(hash, end, Placement::Right);
                    }
                    Ok(())
                }
            },
            _ => Err(Decline),
        }
    }

    /// What follows a quoted scalar or `{}` on its line: spaces, and a comment after a space.
    pub(super) fn line_tail(&mut self, from: usize, end: usize) -> Step {
        let q = skip_spaces(self.bytes, from, end);
        if q == end {
            return Ok(());
        }
        if self.bytes[q] == b'#' && q > from {
            self.push_comment(q, end, Placement::Right);
            return Ok(());
        }
        Err(Decline)
    }

    /// A block scalar whose `|` or `>` is at `p`: its header's rest on this line, its content on
    /// the lines after.
    fn literal(&mut self, p: usize, end: usize) -> Step {
        let bytes = self.bytes;
        let (chomp, comment) = literal::header(bytes, p, end)?;
        let block = LiteralLines::find(bytes, self.pos, self.indent())?;
        let folded = bytes[p] == b'>';
        let value = block.value(self.text, self.pos, chomp, folded);
        self.pos = block.resume;
        // granit-parser gives the scalar before the comment on its header line.
        let style = if folded {
            ScalarStyle::Folded
        } else {
            ScalarStyle::Literal
        };
        self.push_scalar(Cow::Owned(value), style, block.start, block.end);
        if let Some(hash) = comment {
            self.push_comment(hash, end, Placement::Right);
        }
        Ok(())
    }
}
