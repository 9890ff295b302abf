//! The events of a YAML text: the fast reading's while it can, granit-parser's after; and the
//! comparison of the two that the tests and the fuzz target make.

use std::collections::VecDeque;

use granit_parser::Event;

use super::super::events::{event_span, EventSpan};

use super::{Decline, Fast, Item};

/// The events of a YAML text: this module's reading while it can, granit-parser's after.
pub(in crate::stores::yaml) enum Reading<'a> {
    Fast { fast: Box<Fast<'a>>, given: usize },
    Full(Box<FullParser<'a>>),
}

impl<'a> Reading<'a> {
    pub(in crate::stores::yaml) fn new(text: &'a str) -> Self {
        Reading::Fast {
            fast: Box::new(Fast::new(text)),
            given: 0,
        }
    }
}

type FullParser<'a> = granit_parser::Parser<'a, granit_parser::StrInput<'a>>;

/// Most comments in a row granit-parser holds while it looks ahead (the fast reading declines
/// at half as many held, so it never reads through what granit-parser refuses for this).
pub(super) const MAX_BUFFERED_COMMENTS: usize = 100_000;

/// granit-parser as every YAML reading of sepal's uses it.
pub(in crate::stores::yaml) fn full_parser(text: &str) -> FullParser<'_> {
    let mut opts = granit_parser::Options::default();
    opts.emit_anchor_events = true;
    // granit-parser refuses more than 96 comments in a row where it looks ahead (after `key:`
    // or `-` with nothing after them): a long commented-out block there is common in real
    // files, and sops reads them. The bound stays (it bounds what is held while looking ahead).
    opts.max_buffered_comment_events = MAX_BUFFERED_COMMENTS;
    granit_parser::Parser::new_from_str_with_options(text, opts)
}

impl<'a> Reading<'a> {
    /// Move the next events into `batch` until it holds `max` (fewer only after the last one, or
    /// before an error, which is given): what taking them one at a time gives, copied fewer times.
    pub(in crate::stores::yaml) fn fill(
        &mut self,
        batch: &mut VecDeque<(Event<'a>, EventSpan)>,
        max: usize,
    ) -> Option<granit_parser::ScanError> {
        if let Reading::Fast { fast, given } = self {
            let before = batch.len();
            let declined = fast.fill(batch, max).is_err();
            *given += batch.len() - before;
            if !declined {
                return None;
            }
            match self.fall_back()? {
                Ok(item) => batch.push_back(item),
                Err(e) => return Some(e),
            }
        }
        while batch.len() < max {
            match self.next()? {
                Ok(item) => batch.push_back(item),
                Err(e) => return Some(e),
            }
        }
        None
    }

    /// After the fast reading declined: granit-parser from the start, the events already given
    /// skipped, and its next one.
    fn fall_back(&mut self) -> Option<Item<'a>> {
        let Reading::Fast { fast, given } = self else {
            return self.next();
        };
        let mut parser = Box::new(full_parser(fast.text));
        for _ in 0..*given {
            match parser.next() {
                Some(Ok(_)) => {}
                other => {
                    *self = Reading::Full(parser);
                    return full_item(other?);
                }
            }
        }
        let next = parser.next();
        *self = Reading::Full(parser);
        full_item(next?)
    }
}

impl<'a> Iterator for Reading<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        match self {
            Reading::Full(parser) => full_item(parser.next()?),
            Reading::Fast { fast, given } => match fast.next_event() {
                Some(Ok(ev)) => {
                    *given += 1;
                    Some(Ok(ev))
                }
                None => None,
                Some(Err(Decline)) => self.fall_back(),
            },
        }
    }
}

/// One of granit-parser's events as this reader gives it.
fn full_item<'a>(
    item: Result<(Event<'a>, granit_parser::Span), granit_parser::ScanError>,
) -> Option<Item<'a>> {
    Some(item.map(|(event, span)| (event, event_span(&span))))
}

/// This reader against granit-parser on `text`: `Ok(true)` when it read the whole text and gave
/// the same events, `Ok(false)` when it declined after giving the same first events, and else
/// the first difference (for the tests and the fuzz target).
pub(crate) fn compare_with_full(text: &str) -> Result<bool, Disagreement> {
    let mut fast = Fast::new(text);
    let mut given = Vec::new();
    let declined = loop {
        match fast.next_event() {
            Some(Ok(ev)) => given.push(ev),
            Some(Err(Decline)) => break true,
            None => break false,
        }
    };
    let mut full = full_parser(text);
    for (n, ev) in given.iter().enumerate() {
        match full.next() {
            Some(Ok((event, span))) if shown(&(event.clone(), event_span(&span))) == shown(ev) => {}
            Some(Ok((event, span))) => {
                return Err(Disagreement(format!(
                    "event {n}: granit-parser {}, fast {}",
                    shown(&(event, event_span(&span))),
                    shown(ev)
                )))
            }
            Some(Err(e)) => {
                return Err(Disagreement(format!(
                    "event {n}: granit-parser refuses: {e}"
                )))
            }
            None => return Err(Disagreement(format!("event {n}: granit-parser has ended"))),
        }
    }
    if !declined {
        if let Some(more) = full.next() {
            return Err(Disagreement(format!("granit-parser goes on: {more:?}")));
        }
    }
    Ok(!declined)
}

/// Where the fast reading and granit-parser's differ (test and fuzzing output: it shows text).
#[derive(Debug)]
pub struct Disagreement(String);

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub(super) fn shown((event, span): &(Event<'_>, EventSpan)) -> String {
    format!("{event:?} at {:?}", span.range())
}
