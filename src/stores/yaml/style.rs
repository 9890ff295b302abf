//! The scalar style go-yaml v3 (as used by sops) picks for a string: its analysis of the
//! characters (`yaml_emitter_analyze_scalar`) and its style selection.

use super::resolve::{is_base60_float, is_old_bool, resolve_plain, Resolved};

/// A scalar style.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Style {
    Plain,
    Single,
    Double,
    Literal,
    Folded,
}

impl From<granit_parser::ScalarStyle> for Style {
    fn from(s: granit_parser::ScalarStyle) -> Self {
        use granit_parser::ScalarStyle;
        match s {
            ScalarStyle::Plain => Style::Plain,
            ScalarStyle::SingleQuoted => Style::Single,
            ScalarStyle::DoubleQuoted => Style::Double,
            ScalarStyle::Literal => Style::Literal,
            ScalarStyle::Folded => Style::Folded,
        }
    }
}

/// go-yaml `is_printable` for one character.
pub(super) fn printable(c: char) -> bool {
    c == '\n'
        || (' '..='~').contains(&c)
        || ('\u{A0}'..='\u{D7FF}').contains(&c)
        || (('\u{E000}'..='\u{FFFD}').contains(&c) && c != '\u{FEFF}')
}

pub(super) fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// go-yaml `yaml_emitter_analyze_scalar`: the styles that can hold a string.
#[derive(Clone, Copy, Debug)]
struct Analysis {
    multiline: bool,
    flow_plain: bool,
    block_plain: bool,
    single: bool,
    block: bool,
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            flow_plain: false,
            block_plain: true,
            single: true,
            block: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let (flow_ind, block_ind) = indicators(s, &chars);
    let sp = spacing(&chars);
    let mut a = Analysis {
        multiline: sp.line_breaks,
        flow_plain: true,
        block_plain: true,
        single: true,
        block: true,
    };
    if sp.lead_space || sp.lead_break || sp.trail_space || sp.trail_break {
        a.flow_plain = false;
        a.block_plain = false;
    }
    if sp.trail_space {
        a.block = false;
    }
    if sp.break_space {
        a.flow_plain = false;
        a.block_plain = false;
        a.single = false;
    }
    if sp.space_break || sp.tabs || sp.special {
        a.flow_plain = false;
        a.block_plain = false;
        a.single = false;
    }
    if sp.space_break || sp.special {
        a.block = false;
    }
    if sp.line_breaks {
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

/// Whether the string has an indicator that rules out a plain scalar: (in flow context, in
/// block context).
fn indicators(s: &str, chars: &[char]) -> (bool, bool) {
    let (mut block_ind, mut flow_ind) = (false, false);
    if s.starts_with("---") || s.starts_with("...") {
        block_ind = true;
        flow_ind = true;
    }
    let mut preceded_ws = true;
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let followed_ws = next.is_none_or(|n| n == ' ' || n == '\t' || is_break(n));
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
        preceded_ws = c == ' ' || c == '\t' || is_break(c);
    }
    (flow_ind, block_ind)
}

/// Where a string's spaces, line breaks, tabs and special characters are.
#[derive(Default)]
struct Spacing {
    line_breaks: bool,
    special: bool,
    tabs: bool,
    lead_space: bool,
    lead_break: bool,
    trail_space: bool,
    trail_break: bool,
    /// A space right after a line break.
    break_space: bool,
    /// A line break right after a space.
    space_break: bool,
}

fn spacing(chars: &[char]) -> Spacing {
    let mut sp = Spacing::default();
    let (mut prev_space, mut prev_break) = (false, false);
    for (i, &c) in chars.iter().enumerate() {
        let last = i + 1 == chars.len();
        if c == '\t' {
            sp.tabs = true;
        } else if !printable(c) {
            sp.special = true;
        }
        if c == ' ' {
            if i == 0 {
                sp.lead_space = true;
            }
            if last {
                sp.trail_space = true;
            }
            if prev_break {
                sp.break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            sp.line_breaks = true;
            if i == 0 {
                sp.lead_break = true;
            }
            if last {
                sp.trail_break = true;
            }
            if prev_space {
                sp.space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
    }
    sp
}

/// The style go-yaml picks for a string it was asked to write (`encoder.stringv` followed by
/// `select_scalar_style`). `requested` is the style asked for (Plain for a plain string).
pub(super) fn pick_style(s: &str, requested: Style, flow: bool, simple_key: bool) -> Style {
    if requested == Style::Plain && !simple_key {
        if let Some(style) = pick_for_ascii_line(s, flow) {
            return style;
        }
    }
    pick_style_general(s, requested, flow, simple_key)
}

/// [`pick_style`] of a plain request outside a simple key, for a non-empty ASCII string without
/// a line break (nearly every value): the same answer from one pass over its bytes, without
/// collecting its characters. `None` for any other string.
///
/// With no line break, [`analyze`] reduces to: a leading or trailing space, a tab or a
/// non-printable byte rule out both plain forms (the latter two also single quotes), and the
/// indicators rule out the plain form of their context.
fn pick_for_ascii_line(s: &str, flow: bool) -> Option<Style> {
    let b = s.as_bytes();
    let (&first, &last) = (b.first()?, b.last()?);
    let blank_at = |i: usize| b.get(i).is_none_or(|&c| c == b' ' || c == b'\t');
    let mut both_ind = s.starts_with("---") || s.starts_with("...");
    let mut flow_ind = false;
    match first {
        b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
        | b'"' | b'%' | b'@' | b'`' => both_ind = true,
        b'?' | b':' => {
            flow_ind = true;
            both_ind |= blank_at(1);
        }
        b'-' => both_ind |= blank_at(1),
        _ => {}
    }
    // A tab, or a byte go-yaml does not print as it is: neither plain nor single-quoted.
    let mut unquotable = false;
    let mut from = 0;
    while let Some(p) = b[from..].iter().position(|&c| ATTENTION[usize::from(c)]) {
        let i = from + p;
        from = i + 1;
        let c = b[i];
        match c {
            b'\n' | b'\r' | 0x80.. => return None,
            b' '..=b'~' => {}
            _ => unquotable = true,
        }
        if i > 0 {
            match c {
                b',' | b'?' | b'[' | b']' | b'{' | b'}' => flow_ind = true,
                b':' => {
                    flow_ind = true;
                    both_ind |= blank_at(i + 1);
                }
                b'#' if blank_at(i - 1) => both_ind = true,
                _ => {}
            }
        }
    }
    let can_plain =
        matches!(resolve_plain(s), Resolved::Str) && !is_base60_float(s) && !is_old_bool(s);
    let plain_fits =
        first != b' ' && last != b' ' && !unquotable && !both_ind && !(flow && flow_ind);
    Some(if !can_plain || unquotable {
        Style::Double
    } else if plain_fits {
        Style::Plain
    } else {
        Style::Single
    })
}

/// The bytes [`pick_for_ascii_line`] looks at: those outside printable ASCII, and the
/// indicators that matter after a string's first character. Every other byte is skipped.
static ATTENTION: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = c < 0x20 || c > 0x7E;
        c += 1;
    }
    let indicators = b",?[]{}:#";
    let mut i = 0;
    while i < indicators.len() {
        t[indicators[i] as usize] = true;
        i += 1;
    }
    t
};

/// [`pick_style`] for any string: go-yaml's analysis of its characters, then its choice.
fn pick_style_general(s: &str, requested: Style, flow: bool, simple_key: bool) -> Style {
    let a = analyze(s);
    // Line breaks other than \n are always escaped (we do not write raw CR/NEL/LS/PS).
    let odd_breaks = s.chars().any(|c| is_break(c) && c != '\n');
    let mut style = requested;
    if style == Style::Plain {
        let can_plain =
            matches!(resolve_plain(s), Resolved::Str) && !is_base60_float(s) && !is_old_bool(s);
        style = if s.contains('\n') {
            if flow {
                Style::Double
            } else {
                Style::Literal
            }
        } else if can_plain {
            Style::Plain
        } else {
            Style::Double
        };
    }
    if simple_key && a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain
        && ((flow && !a.flow_plain)
            || (!flow && !a.block_plain)
            || (s.is_empty() && (flow || simple_key)))
    {
        style = Style::Single;
    }
    if style == Style::Single && (!a.single || s.contains('\n')) {
        style = Style::Double;
    }
    if matches!(style, Style::Literal | Style::Folded) && (!a.block || flow || simple_key) {
        style = Style::Double;
    }
    if odd_breaks {
        style = Style::Double;
    }
    style
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn styles() {
        assert_eq!(pick_style("yes", Style::Plain, false, false), Style::Double);
        assert_eq!(
            pick_style("a: b", Style::Plain, false, false),
            Style::Single
        );
        assert_eq!(pick_style("#x", Style::Plain, false, false), Style::Single);
        assert_eq!(pick_style("", Style::Plain, false, false), Style::Double);
        assert_eq!(
            pick_style("a\nb", Style::Plain, false, false),
            Style::Literal
        );
        assert_eq!(
            pick_style("a \nb", Style::Plain, false, false),
            Style::Double
        );
        assert_eq!(pick_style("it's", Style::Plain, false, false), Style::Plain);
        assert_eq!(pick_style("a,b", Style::Plain, true, false), Style::Single);
    }

    /// Strings made of the characters that matter to the choice (indicators, blanks, breaks,
    /// digits, letters of the old booleans, non-printable and non-ASCII characters).
    fn tricky() -> impl Strategy<Value = String> {
        let chars: Vec<char> = " \t\n\r-?:#,[]{}&*!|>'\"%@`.~+_019eExXyYnNoOtTfFaA<=\u{0}\u{7f}\u{85}\u{a0}\u{feff}\u{2028}é🔑"
            .chars()
            .collect();
        proptest::collection::vec(proptest::sample::select(chars), 0..8)
            .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        /// The one-pass answer for one-line ASCII strings is the full analysis's answer.
        #[test]
        fn ascii_line_fast_path_matches_the_analysis(s in tricky(), flow: bool) {
            if let Some(fast) = pick_for_ascii_line(&s, flow) {
                prop_assert_eq!(fast, pick_style_general(&s, Style::Plain, flow, false), "{:?}", s);
            }
            for simple_key in [false, true] {
                for requested in [Style::Plain, Style::Single, Style::Double, Style::Literal] {
                    prop_assert_eq!(
                        pick_style(&s, requested, flow, simple_key),
                        pick_style_general(&s, requested, flow, simple_key)
                    );
                }
            }
        }

        /// Printable ASCII lines, the common case, always take the fast path.
        #[test]
        fn printable_ascii_lines_take_the_fast_path(s in "[ -~]{1,12}", flow: bool) {
            let fast = pick_for_ascii_line(&s, flow);
            prop_assert_eq!(fast, Some(pick_style_general(&s, Style::Plain, flow, false)));
        }
    }
}
