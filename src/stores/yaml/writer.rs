//! Writing one leaf's new text in place of its token: a ciphertext in the form that reads back
//! as the original token's, or a decrypted value as go-yaml (or the original token) writes it,
//! block scalars included.

use super::edits::Edits;
use super::layout::{BlockSpan, ScalarSpan};
use super::resolve::{resolve_plain, Resolved};
use super::scalar_text::{
    chomp, double_quoted, double_quoted_min, inline_scalar, literal_body, plain_ok, single_ok,
    single_quoted,
};
use super::style::{pick_style, Style};
use crate::tree::Scalar;
use crate::wipe::Wiped;

/// The plain text to write for a typed value: the given spelling when it reads back as the same
/// value, else the canonical form.
pub(super) fn plain_text_for(value: &Scalar, text: &str) -> String {
    let r = resolve_plain(text);
    let same = match (value, &r) {
        (Scalar::Bool(a), Resolved::Bool(b)) => a == b,
        (Scalar::Int(a), Resolved::Int(b)) => a == b,
        (Scalar::Float(a), Resolved::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
        (Scalar::Float(a), Resolved::Uint(b)) => *a == *b as f64,
        (Scalar::Time(a), Resolved::Time(b)) => a.as_str() == b,
        (Scalar::Null, Resolved::Null) => true,
        _ => false,
    };
    if same && !text.contains('\n') {
        return text.to_string();
    }
    let t = inline_scalar(value, false, false).unwrap_or_default();
    // Go prints a whole float without a point (`100`), which YAML reads back as an int.
    match value {
        Scalar::Float(f) if f.is_finite() && !t.contains(['.', 'e', 'E']) => format!("{t}.0"),
        _ => t,
    }
}

/// Writes leaves into a source with the given line breaks and indentation step.
pub(super) struct Writer<'a> {
    pub(super) src: &'a [u8],
    pub(super) nl: &'static str,
    pub(super) indent: usize,
}

impl Writer<'_> {
    fn next_indent(&self, col: usize) -> usize {
        self.indent * ((col + self.indent) / self.indent)
    }

    /// Content lines inserted at `at` (a line start, or the end of a source without final
    /// line break): terminated like the surrounding lines.
    fn new_lines(&self, at: usize, content: &str) -> Wiped<String> {
        let mut out = Wiped::new(String::with_capacity(content.len() + self.nl.len()));
        if at >= self.src.len() && !self.src.ends_with(b"\n") {
            out.push_str(self.nl);
            out.push_str(content);
        } else {
            out.push_str(content);
            out.push_str(self.nl);
        }
        out
    }

    /// Write a string value in place of the token described by `sp`.
    fn write_str<'t>(&self, sp: &ScalarSpan, s: &'t str, requested: Style, ed: &mut Edits<'t>) {
        let tok_start = sp.token_start();
        match pick_style(s, requested, sp.flow, false) {
            Style::Plain => self.replace_token_lent(sp, tok_start, s, ed),
            Style::Single => self.replace_token(sp, tok_start, single_quoted(s), ed),
            Style::Double => self.replace_token(sp, tok_start, double_quoted(s), ed),
            style @ (Style::Literal | Style::Folded) => {
                self.write_block(sp, tok_start, s, style, ed)
            }
        }
    }

    /// Replace a token with an inline text (removing any block content it had); the text is
    /// wiped once copied into the edits.
    fn replace_token(&self, sp: &ScalarSpan, tok_start: usize, text: String, ed: &mut Edits) {
        self.replace_token_with(sp, tok_start, &Wiped::new(text), ed)
    }

    /// [`Writer::replace_token`] with a borrowed text, copied into the edits.
    fn replace_token_with(&self, sp: &ScalarSpan, tok_start: usize, text: &str, ed: &mut Edits) {
        match &sp.block {
            Some(b) => {
                ed.push_parts(b.header_start, b.header_end, &[text]);
                // Remove the content lines (keep the line break that ends the header line).
                if b.content_end > b.content_start {
                    ed.push_parts(b.content_start, b.content_end, &[]);
                }
            }
            None => ed.push_parts(tok_start, sp.end, &[text]),
        }
    }

    /// [`Writer::replace_token`] with a text that outlives the edits (a decrypted value written
    /// as it is): lent to them, not copied.
    fn replace_token_lent<'t>(
        &self,
        sp: &ScalarSpan,
        tok_start: usize,
        text: &'t str,
        ed: &mut Edits<'t>,
    ) {
        match &sp.block {
            Some(_) => self.replace_token_with(sp, tok_start, text, ed),
            None => ed.push_lent(tok_start, sp.end, text),
        }
    }

    /// The indentation indicator of a block scalar's header, if it has one.
    fn header_digit(&self, sp: &ScalarSpan) -> Option<usize> {
        let b = sp.block.as_ref()?;
        self.src
            .get(b.header_start..b.header_end)?
            .iter()
            .find(|c| c.is_ascii_digit())
            .map(|d| usize::from(d - b'0'))
            .filter(|d| *d > 0)
    }

    fn write_block(
        &self,
        sp: &ScalarSpan,
        tok_start: usize,
        s: &str,
        style: Style,
        ed: &mut Edits,
    ) {
        // A block's content starts on the next line: anything after an inline token on its line
        // (a comment) would end up inside the content. Such a value stays inline.
        if sp.block.is_none() {
            let rest = self.src.get(sp.end..).unwrap_or(&[]);
            let line = &rest[..rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len())];
            if line.iter().any(|b| !matches!(b, b' ' | b'\t' | b'\r')) {
                return self.replace_token(sp, tok_start, double_quoted(s), ed);
            }
        }
        let col = match &sp.block {
            Some(b) => b.content_col,
            None if sp.dash.is_some() => sp.owner_col + 2,
            None => self.next_indent(sp.owner_col),
        };
        let body_lines_trailing = s.len() - s.trim_end_matches('\n').len();
        let body = &s[..s.len() - body_lines_trailing];
        // Folded style only when it reads back identically: one line, no leading space.
        let style = if style == Style::Folded && (body.contains('\n') || body.starts_with(' ')) {
            Style::Literal
        } else {
            style
        };
        let Some(ind) = self.block_indicator(sp, s, col) else {
            return self.replace_token(sp, tok_start, double_quoted(s), ed);
        };
        let ch = chomp(s);
        let header = format!(
            "{}{}{}",
            if style == Style::Folded { '>' } else { '|' },
            ind,
            ch
        );
        let content = BlockContent {
            body,
            col,
            trailing_breaks: body_lines_trailing,
        };
        match &sp.block {
            Some(b) => self.rewrite_block(b, header, &content, ch == "+", ed),
            None => self.block_from_token(sp, tok_start, header, &content, ed),
        }
    }

    /// The indentation indicator of a new block header for `s` with content at `col`; `None`
    /// when none fits (the value is then written inline).
    ///
    /// An indicator is needed when the first line starts with a blank or is empty. From an inline
    /// token (sops's), go-yaml's: the indentation step, wherever the content is. From a block,
    /// and before a tab (go-yaml writes null there), the content's real distance.
    fn block_indicator(&self, sp: &ScalarSpan, s: &str, col: usize) -> Option<String> {
        let had_block = sp.block.is_some();
        let rel = col.saturating_sub(sp.owner_col);
        if s.starts_with([' ', '\n', '\t']) {
            if !had_block && !s.starts_with('\t') && (1..=9).contains(&self.indent) {
                Some(self.indent.to_string())
            } else if (1..=9).contains(&rel) {
                Some(rel.to_string())
            } else {
                None
            }
        } else if had_block && self.header_digit(sp).is_some() && (1..=9).contains(&rel) {
            // An explicit indicator is kept (when it is the content's distance).
            Some(rel.to_string())
        } else {
            Some(String::new())
        }
    }

    /// A block scalar's new header and content in place of the old ones. `keep` is the `+`
    /// chomping indicator (trailing blank lines are content).
    fn rewrite_block(
        &self,
        b: &BlockSpan,
        header: String,
        content: &BlockContent,
        keep: bool,
        ed: &mut Edits,
    ) {
        ed.push(b.header_start, b.header_end, header);
        let mut lines = Wiped::new(literal_body(content.body, content.col, self.nl));
        let want_blank = if keep {
            content.trailing_breaks.saturating_sub(1)
        } else {
            0
        };
        if b.has_content {
            if keep && want_blank < b.trailing_blanks {
                for _ in 0..=want_blank {
                    lines.push_str(self.nl);
                }
                ed.push(b.content_start, b.span_end, lines);
            } else {
                for _ in 0..want_blank.saturating_sub(b.trailing_blanks) {
                    lines.push_str(self.nl);
                }
                ed.push(b.content_start, b.content_end, lines);
            }
        } else if !content.body.is_empty() {
            ed.push(
                b.content_start,
                b.content_start,
                self.new_lines(b.content_start, &lines),
            );
        }
    }

    /// A block scalar in place of an inline token: header in place, content on the following
    /// lines.
    fn block_from_token(
        &self,
        sp: &ScalarSpan,
        tok_start: usize,
        header: String,
        content: &BlockContent,
        ed: &mut Edits,
    ) {
        let lines = Wiped::new(literal_body(content.body, content.col, self.nl));
        let extra_breaks = content.trailing_breaks.saturating_sub(1);
        let mut text = Wiped::new(String::with_capacity(
            header.len() + lines.len() + self.nl.len() * (1 + extra_breaks),
        ));
        text.push_str(&header);
        text.push_str(self.nl);
        text.push_str(&lines);
        for _ in 0..extra_breaks {
            text.push_str(self.nl);
        }
        // The token's line break follows: it ends the last empty line of a body made of
        // line breaks only. Blanks after the token go too: on the content's last line
        // they would be content.
        let rest = self.src.get(sp.end..).unwrap_or(&[]);
        let blanks = rest
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        ed.push(tok_start, sp.end + blanks, text);
    }

    pub(super) fn write_encrypted<'t>(&self, sp: &ScalarSpan, enc: &'t str, ed: &mut Edits<'t>) {
        let tok_start = sp.token_start();
        if sp.is_enc && sp.block.is_none() {
            // A new ciphertext in place of one (rotate, updatekeys): same style, tag kept.
            let t = match sp.style {
                Style::Double => double_quoted(enc),
                Style::Single => single_quoted(enc),
                _ if sp.flow => single_quoted(enc),
                _ => return ed.push_lent(sp.start, sp.end, enc),
            };
            return ed.push(sp.start, sp.end, t);
        }
        // sops writes plain tokens, which mean "print as go-yaml does". The forms only sepal
        // writes keep the original style: quotes as they were (in flow context, where the token
        // must be quoted, `!!str "..."` for single quotes), `!!str` for a plain string that
        // go-yaml would quote.
        match (&sp.block, sp.style) {
            (Some(b), _) if b.goyaml => self.goyaml_block_to_token(b, enc, ed),
            (Some(b), _) => {
                let ind = self.src.get(b.header_start).copied().unwrap_or(b'|') as char;
                // An explicit indicator that is the content's distance stays.
                let digit = self
                    .header_digit(sp)
                    .filter(|d| sp.owner_col + d == b.content_col)
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                ed.push(b.header_start, b.header_end, format!("{ind}{digit}-"));
                let content = format!("{}{}", " ".repeat(b.content_col), enc);
                if b.has_content {
                    ed.push(b.content_start, b.content_end, content);
                } else {
                    ed.push(
                        b.content_start,
                        b.content_start,
                        self.new_lines(b.content_start, &content),
                    );
                }
            }
            (None, Style::Single) if sp.flow => {
                ed.push(tok_start, sp.end, format!("!!str {}", double_quoted(enc)))
            }
            (None, Style::Single) => ed.push(tok_start, sp.end, single_quoted(enc)),
            (None, Style::Double) => ed.push(tok_start, sp.end, double_quoted(enc)),
            (None, _) => {
                let tag = if sp.keep_plain { "!!str " } else { "" };
                if sp.flow {
                    ed.push_parts(tok_start, sp.end, &[tag, &single_quoted(enc)])
                } else if tag.is_empty() {
                    ed.push_lent(tok_start, sp.end, enc)
                } else {
                    ed.push_parts(tok_start, sp.end, &[tag, enc])
                }
            }
        }
    }

    /// go-yaml's own block: an inline token, written back as go-yaml writes it. With blank lines
    /// at the end: through the last line break of them.
    fn goyaml_block_to_token(&self, b: &BlockSpan, enc: &str, ed: &mut Edits) {
        let blanks = !b.has_content || b.trailing_blanks > 0;
        let end = if !blanks {
            b.content_end
        } else {
            self.src
                .get(..b.span_end)
                .and_then(|s| s.iter().rposition(|&c| c == b'\n'))
                .map_or(b.header_end, |p| p + 1)
                .max(b.header_end)
        };
        let mut t = enc.to_string();
        if blanks && end > b.header_end {
            t.push_str(self.nl);
        }
        ed.push(b.header_start, end, t)
    }

    pub(super) fn write_plain<'t>(
        &self,
        sp: &ScalarSpan,
        value: &'t Scalar,
        text: &str,
        ed: &mut Edits<'t>,
    ) {
        let tok_start = sp.token_start();
        match value {
            Scalar::Str(s) => self.write_plain_str(sp, s, ed),
            Scalar::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => self.write_str(sp, s, sp.style, ed),
                Err(_) => {
                    let t = inline_scalar(value, sp.flow, false).unwrap_or_default();
                    self.replace_token(sp, tok_start, t, ed)
                }
            },
            Scalar::Comment(c) => match sp.dash {
                Some(d) if !sp.flow => ed.push(d, sp.end, format!("#{}", c.as_str())),
                _ => self.write_str(sp, c, Style::Double, ed),
            },
            Scalar::Null
            | Scalar::Bool(_)
            | Scalar::Int(_)
            | Scalar::Float(_)
            | Scalar::Time(_) => {
                let t = plain_text_for(value, text);
                self.replace_token(sp, tok_start, t, ed)
            }
        }
    }

    /// A decrypted string. The forms of [`Writer::write_encrypted`]: a tagged plain token (tagged
    /// single quotes in flow context) was a plain string, a quoted one (tagged double quotes in
    /// flow context for single) kept its quotes, escaping only what must be.
    fn write_plain_str<'t>(&self, sp: &ScalarSpan, s: &'t str, ed: &mut Edits<'t>) {
        let tok_start = sp.token_start();
        let inline = sp.block.is_none();
        let tagged = sp.str_tag && inline;
        let (plain, single, double) = if sp.flow {
            (
                tagged && sp.style == Style::Single,
                tagged && sp.style == Style::Double,
                !tagged && sp.style == Style::Double,
            )
        } else {
            (
                tagged && sp.style == Style::Plain,
                inline && sp.style == Style::Single,
                inline && sp.style == Style::Double,
            )
        };
        if plain && plain_ok(s, sp.flow) {
            return self.replace_token_lent(sp, tok_start, s, ed);
        }
        if single && single_ok(s) {
            return self.replace_token(sp, tok_start, single_quoted(s), ed);
        }
        if single || double {
            return self.replace_token(sp, tok_start, double_quoted_min(s), ed);
        }
        // Otherwise go-yaml's choice (in flow context a plain token had to be quoted when
        // encrypted: single quotes, as go-yaml would, mean plain).
        let req = if sp.flow && sp.style == Style::Single {
            Style::Plain
        } else {
            sp.style
        };
        self.write_str(sp, s, if plain { Style::Plain } else { req }, ed)
    }
}

/// The content of a new block scalar.
struct BlockContent<'s> {
    /// The value without its final line breaks.
    body: &'s str,
    /// The content's column.
    col: usize,
    /// How many line breaks end the value.
    trailing_breaks: usize,
}
