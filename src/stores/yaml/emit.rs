//! Writing YAML the way go-yaml v3 (as used by sops) writes it: scalar style choice, quoting, and
//! a block emitter for whole trees.

use base64::Engine;

use super::resolve::{is_base60_float, is_old_bool, resolve_plain, Resolved};
use crate::gotext::float_g;
use crate::stores::StoreError;
use crate::tree::{Item, Scalar, Value};

/// go-yaml `is_printable` for one character.
fn printable(c: char) -> bool {
    c == '\n'
        || (' '..='~').contains(&c)
        || ('\u{A0}'..='\u{D7FF}').contains(&c)
        || (('\u{E000}'..='\u{FFFD}').contains(&c) && c != '\u{FEFF}')
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// go-yaml `yaml_emitter_analyze_scalar`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Analysis {
    pub multiline: bool,
    pub flow_plain: bool,
    pub block_plain: bool,
    pub single: bool,
    pub block: bool,
}

pub(crate) fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            flow_plain: false,
            block_plain: true,
            single: true,
            block: false,
        };
    }
    let (mut block_ind, mut flow_ind) = (false, false);
    if s.starts_with("---") || s.starts_with("...") {
        block_ind = true;
        flow_ind = true;
    }
    let (mut line_breaks, mut special, mut tabs) = (false, false, false);
    let (mut lead_space, mut lead_break, mut trail_space, mut trail_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_ws = true;
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let followed_ws = next.is_none_or(|n| n == ' ' || n == '\t' || is_break(n));
        let last = i + 1 == chars.len();
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => {
                    flow_ind = true;
                    block_ind = true;
                }
                '?' | ':' => {
                    flow_ind = true;
                    if followed_ws {
                        block_ind = true;
                    }
                }
                '-' if followed_ws => {
                    flow_ind = true;
                    block_ind = true;
                }
                _ => {}
            }
        } else {
            match c {
                ',' | '?' | '[' | ']' | '{' | '}' => flow_ind = true,
                ':' => {
                    flow_ind = true;
                    if followed_ws {
                        block_ind = true;
                    }
                }
                '#' if preceded_ws => {
                    flow_ind = true;
                    block_ind = true;
                }
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                lead_space = true;
            }
            if last {
                trail_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                lead_break = true;
            }
            if last {
                trail_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_ws = c == ' ' || c == '\t' || is_break(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        flow_plain: true,
        block_plain: true,
        single: true,
        block: true,
    };
    if lead_space || lead_break || trail_space || trail_break {
        a.flow_plain = false;
        a.block_plain = false;
    }
    if trail_space {
        a.block = false;
    }
    if break_space {
        a.flow_plain = false;
        a.block_plain = false;
        a.single = false;
    }
    if space_break || tabs || special {
        a.flow_plain = false;
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a.block = false;
    }
    if line_breaks {
        a.flow_plain = false;
        a.block_plain = false;
    }
    if flow_ind {
        a.flow_plain = false;
    }
    if block_ind {
        a.block_plain = false;
    }
    a
}

/// A scalar style.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sty {
    Plain,
    Single,
    Double,
    Literal,
    Folded,
}

/// The style go-yaml picks for a string it was asked to write (`encoder.stringv` followed by
/// `select_scalar_style`). `requested` is the style asked for (Plain for a plain string).
pub(crate) fn pick_style(s: &str, requested: Sty, flow: bool, simple_key: bool) -> Sty {
    let a = analyze(s);
    // Line breaks other than \n are always escaped (we do not write raw CR/NEL/LS/PS).
    let odd_breaks = s.chars().any(|c| is_break(c) && c != '\n');
    let mut style = requested;
    if style == Sty::Plain {
        let can_plain =
            matches!(resolve_plain(s), Resolved::Str) && !is_base60_float(s) && !is_old_bool(s);
        style = if s.contains('\n') {
            if flow {
                Sty::Double
            } else {
                Sty::Literal
            }
        } else if can_plain {
            Sty::Plain
        } else {
            Sty::Double
        };
    }
    if simple_key && a.multiline {
        style = Sty::Double;
    }
    if style == Sty::Plain
        && ((flow && !a.flow_plain)
            || (!flow && !a.block_plain)
            || (s.is_empty() && (flow || simple_key)))
    {
        style = Sty::Single;
    }
    if style == Sty::Single && (!a.single || s.contains('\n')) {
        style = Sty::Double;
    }
    if matches!(style, Sty::Literal | Sty::Folded) && (!a.block || flow || simple_key) {
        style = Sty::Double;
    }
    if odd_breaks {
        style = Sty::Double;
    }
    style
}

/// go-yaml's double-quoted form (no line folding).
pub(crate) fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if !printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
            out.push('\\');
            match c {
                '\0' => out.push('0'),
                '\u{7}' => out.push('a'),
                '\u{8}' => out.push('b'),
                '\t' => out.push('t'),
                '\n' => out.push('n'),
                '\u{b}' => out.push('v'),
                '\u{c}' => out.push('f'),
                '\r' => out.push('r'),
                '\u{1b}' => out.push('e'),
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                '\u{85}' => out.push('N'),
                '\u{a0}' => out.push('_'),
                '\u{2028}' => out.push('L'),
                '\u{2029}' => out.push('P'),
                _ => {
                    let v = c as u32;
                    if v <= 0xFF {
                        out.push_str(&format!("x{v:02X}"));
                    } else if v <= 0xFFFF {
                        out.push_str(&format!("u{v:04X}"));
                    } else {
                        out.push_str(&format!("U{v:08X}"));
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

pub(crate) fn single_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A character that a quoted scalar must escape: controls (tab included), line breaks, the BOM
/// and the non-characters YAML excludes.
fn needs_escape(c: char) -> bool {
    c.is_control() || is_break(c) || matches!(c, '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}')
}

/// Double-quoted with as few escapes as possible: only `"`, `\` and the characters of
/// [`needs_escape`]; every other character (non-ASCII and emoji included) is written raw.
pub(crate) fn double_quoted_min(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' || needs_escape(c) {
            let mut buf = [0u8; 4];
            let one = double_quoted(c.encode_utf8(&mut buf));
            out.push_str(&one[1..one.len() - 1]);
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Whether `s` can be written single-quoted on one line (no character needs an escape).
pub(crate) fn single_ok(s: &str) -> bool {
    !s.chars().any(|c| c != '\t' && needs_escape(c))
}

/// Whether `s` can be written as a plain scalar (in flow context when `flow`) and read back as
/// the same string, whatever go-yaml would choose.
pub(crate) fn plain_ok(s: &str, flow: bool) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let second = s.chars().nth(1);
    let blank = |c: char| c == ' ' || c == '\t';
    if blank(first) || s.ends_with([' ', '\t', ':']) {
        return false;
    }
    if s.chars().any(|c| c != '\t' && needs_escape(c)) {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    let indicator = match first {
        '-' | '?' | ':' => second.is_none_or(|c| blank(c) || (flow && ",[]{}".contains(c))),
        _ => ",[]{}#&*!|>'\"%@`".contains(first),
    };
    if indicator {
        return false;
    }
    if s.contains(": ") || s.contains(":\t") || s.contains(" #") || s.contains("\t#") {
        return false;
    }
    if flow && s.contains([',', '[', ']', '{', '}', ':']) {
        return false;
    }
    matches!(resolve_plain(s), Resolved::Str) && s != "<<"
}

/// Chomping indicator for a block scalar value.
pub(crate) fn chomp(s: &str) -> &'static str {
    if !s.ends_with('\n') {
        "-"
    } else if s == "\n" || s.ends_with("\n\n") {
        "+"
    } else {
        ""
    }
}

/// The content lines of a literal block: each line padded to `col`, empty lines left empty,
/// every line followed by `nl` (the value's own line breaks), the last one only when the value
/// has a final line break.
pub(crate) fn literal_body(s: &str, col: usize, nl: &str) -> String {
    let mut out = String::new();
    let mut at_start = true;
    for c in s.chars() {
        if c == '\n' {
            out.push_str(nl);
            at_start = true;
        } else {
            if at_start {
                out.push_str(&" ".repeat(col));
                at_start = false;
            }
            out.push(c);
        }
    }
    out
}

/// A scalar rendered as a single token (not a block scalar) in the given context.
pub(crate) fn inline_scalar(s: &Scalar, flow: bool, simple_key: bool) -> Option<String> {
    Some(match s {
        Scalar::Null => "null".to_string(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => yaml_float(*f),
        Scalar::Time(t) => t.to_string(),
        Scalar::Str(t) | Scalar::Comment(t) => match pick_style(t, Sty::Plain, flow, simple_key) {
            Sty::Plain => t.to_string(),
            Sty::Single => single_quoted(t),
            Sty::Double => double_quoted(t),
            Sty::Literal | Sty::Folded => return None,
        },
        Scalar::Bytes(b) => match std::str::from_utf8(b) {
            Ok(t) => return inline_scalar(&Scalar::Str(crate::tree::secret(t)), flow, simple_key),
            Err(_) => format!(
                "!!binary {}",
                base64::engine::general_purpose::STANDARD.encode(b.as_slice())
            ),
        },
    })
}

/// go-yaml's float form.
pub(crate) fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        ".nan".into()
    } else if f == f64::INFINITY {
        ".inf".into()
    } else if f == f64::NEG_INFINITY {
        "-.inf".into()
    } else {
        float_g(f, false)
    }
}

/// Block emitter state (go-yaml's layout, see module docs of the store).
pub(crate) struct Emitter {
    pub out: String,
    pub best: usize,
}

fn next_indent(col: usize, best: usize) -> usize {
    best * ((col + best) / best)
}

fn pair_count(items: &[Item]) -> usize {
    items
        .iter()
        .filter(|i| !matches!(i, Item::Comment(_)))
        .count()
}

impl Emitter {
    pub fn new(best: usize) -> Self {
        Emitter {
            out: String::new(),
            best,
        }
    }

    fn pad(&mut self, col: usize) {
        for _ in 0..col {
            self.out.push(' ');
        }
    }

    fn comment_line(&mut self, col: usize, text: &str) {
        self.pad(col);
        self.out.push('#');
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// Write a scalar after `key:` or `-`, starting with the separating space. `block_col` is
    /// where a literal block's content goes.
    fn scalar_after(&mut self, s: &Scalar, block_col: usize) {
        if let Scalar::Str(t) = s {
            let st = pick_style(t, Sty::Plain, false, false);
            if st == Sty::Literal {
                let hint = if t.starts_with(' ') || t.starts_with('\n') {
                    self.best.to_string()
                } else {
                    String::new()
                };
                if hint.is_empty() && t.starts_with('\t') {
                    // sops encodes each value on its own, and go-yaml cannot read back a literal
                    // block whose first line starts with a tab: the value comes out as null.
                    self.out.push_str(" null\n");
                    return;
                }
                self.out.push_str(" |");
                self.out.push_str(&hint);
                self.out.push_str(chomp(t));
                self.out.push('\n');
                self.out.push_str(&literal_body(t, block_col, "\n"));
                if !t.ends_with('\n') {
                    self.out.push('\n');
                }
                return;
            }
        }
        self.out.push(' ');
        let text = inline_scalar(s, false, false).unwrap_or_else(|| "null".to_string());
        self.out.push_str(&text);
        self.out.push('\n');
    }

    /// A block mapping whose keys sit at `col`; when `inline`, the first key continues the current
    /// line (after `- `) and the map's leading comments were already written.
    pub fn map(&mut self, items: &[Item], col: usize, inline: bool) {
        let mut first = true;
        for item in items {
            match item {
                Item::Comment(l) => {
                    if let Some(t) = l.value.as_str() {
                        self.comment_line(col, t);
                    }
                }
                Item::Pair { key, value } => {
                    if !(first && inline) {
                        self.pad(col);
                    }
                    first = false;
                    let k =
                        inline_scalar(&Scalar::Str(crate::tree::secret(key.as_str())), false, true)
                            .unwrap_or_else(|| double_quoted(key));
                    self.out.push_str(&k);
                    self.out.push(':');
                    self.value_after(value, col, false);
                }
                Item::Elem(v) => {
                    // Not expected in a map; treat like a value without a key.
                    self.value_after(v, col, false);
                }
            }
        }
    }

    /// A value after `key:` (map at `col`) or after `-` (sequence at `col`, `in_seq`).
    pub(crate) fn value_after(&mut self, value: &Value, col: usize, in_seq: bool) {
        let child = if in_seq {
            col + 2
        } else {
            next_indent(col, self.best)
        };
        match value {
            Value::Leaf(l) => self.scalar_after(&l.value, child),
            Value::Map(items) if pair_count(items) == 0 => self.out.push_str(" {}\n"),
            Value::List(items) if pair_count(items) == 0 => self.out.push_str(" []\n"),
            Value::Map(items) => {
                if in_seq {
                    self.out.push(' ');
                    self.map(items, child, true);
                } else {
                    self.out.push('\n');
                    self.map(items, child, false);
                }
            }
            Value::List(items) => {
                if in_seq {
                    self.out.push(' ');
                    self.seq(items, child, true);
                } else {
                    self.out.push('\n');
                    self.seq(items, child, false);
                }
            }
        }
    }

    /// A block sequence with dashes at `col`.
    pub fn seq(&mut self, items: &[Item], col: usize, inline: bool) {
        let mut first = true;
        for item in items {
            let v = match item {
                Item::Comment(l) => {
                    if let Some(t) = l.value.as_str() {
                        self.comment_line(col, t);
                    }
                    continue;
                }
                Item::Elem(v) | Item::Pair { value: v, .. } => v,
            };
            // Leading comments of a collection element are written before its dash.
            let (lead, rest): (&[Item], &[Item]) = match v {
                Value::Map(items) | Value::List(items) if pair_count(items) > 0 => {
                    let n = items
                        .iter()
                        .take_while(|i| matches!(i, Item::Comment(_)))
                        .count();
                    (&items[..n], &items[n..])
                }
                _ => (&[], &[]),
            };
            if !(first && inline && lead.is_empty()) {
                if first && inline {
                    // Cannot put comments after a dash on the same line: break the line.
                    self.out.push('\n');
                }
                for c in lead {
                    if let Item::Comment(l) = c {
                        if let Some(t) = l.value.as_str() {
                            self.comment_line(col, t);
                        }
                    }
                }
                self.pad(col);
            }
            first = false;
            self.out.push('-');
            match v {
                Value::Map(_) if !rest.is_empty() => {
                    self.out.push(' ');
                    self.map(rest, col + 2, true);
                }
                Value::List(_) if !rest.is_empty() => {
                    self.out.push(' ');
                    self.seq(rest, col + 2, true);
                }
                _ => self.value_after(v, col, true),
            }
        }
    }
}

/// Indentation from the options, as sops validates it.
pub(crate) fn indent_from(opt: Option<i64>) -> Result<Option<usize>, StoreError> {
    match opt {
        None => Ok(None),
        Some(n) if n < 0 => Err(StoreError::new("YAML Negative indentation not accepted")),
        Some(0) => Ok(Some(4)),
        Some(n) if (2..=9).contains(&n) => Ok(Some(n as usize)),
        Some(_) => Ok(Some(2)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles() {
        assert_eq!(pick_style("yes", Sty::Plain, false, false), Sty::Double);
        assert_eq!(pick_style("a: b", Sty::Plain, false, false), Sty::Single);
        assert_eq!(pick_style("#x", Sty::Plain, false, false), Sty::Single);
        assert_eq!(pick_style("", Sty::Plain, false, false), Sty::Double);
        assert_eq!(pick_style("a\nb", Sty::Plain, false, false), Sty::Literal);
        assert_eq!(pick_style("a \nb", Sty::Plain, false, false), Sty::Double);
        assert_eq!(pick_style("it's", Sty::Plain, false, false), Sty::Plain);
        assert_eq!(pick_style("a,b", Sty::Plain, true, false), Sty::Single);
        assert_eq!(double_quoted("\u{1F389} é\t"), "\"\\U0001F389 é\\t\"");
    }
}
