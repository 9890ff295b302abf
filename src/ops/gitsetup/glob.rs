//! A creation rule's `path_regex` written as gitattributes patterns, when that can be done
//! exactly: the patterns match the same paths (relative to the folder of `.sops.yaml`, where the
//! `.gitattributes` goes) as the regex does. Only a small, common subset of regex is read:
//! literal characters (escaped punctuation included), `.*`, `[^/]*`, `[^/]+`, `^` and `$` at the
//! ends, an optional character (`ya?ml`), groups of literal alternatives (`(yaml|json)`, `(?:…)`)
//! and `|` at the top level. Anything else (a lone `.`, which also matches `/`; classes;
//! repetition counts; flags) is [`Conversion::Inexact`], and the caller lists the matching files
//! instead.
//!
//! The translation, on the regex as a whole-path match (an unanchored end is a `.*` there):
//! `.*` after a `/` is `**/*` (zero or more folders, then any name start), at the very start
//! `**/*`, at the very end after a `/` `**`; elsewhere it is split in two patterns, one where it
//! stays inside a name (`*`) and one where it crosses folders (`*/**/*`). A pattern without `/`
//! matches a name in any folder, exactly what a leading `**/` says; one with a `/` is anchored.

/// The result of translating one `path_regex`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conversion {
    /// These patterns (one per line) match exactly the paths the regex matches.
    Globs(Vec<String>),
    /// The regex matches every path (an empty regex, `.*`).
    Everything,
    /// No exact translation.
    Inexact,
}

/// The most patterns one regex may become (alternatives multiply).
const MAX_PATTERNS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `[^/]`
    One,
    /// `[^/]*`
    Seg,
    /// `.*`
    Any,
}

/// Translate `regex` (see the module header).
pub fn convert(regex: &str) -> Conversion {
    let mut out = Vec::new();
    for branch in split_top(regex) {
        let Some((start, end, alternatives)) = parse(&branch) else {
            return Conversion::Inexact;
        };
        for toks in alternatives {
            match convert_sequence(start, end, toks) {
                Conversion::Globs(g) => out.extend(g),
                other => return other,
            }
        }
        if out.len() > MAX_PATTERNS {
            return Conversion::Inexact;
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|g| seen.insert(g.clone()));
    Conversion::Globs(out)
}

/// The branches of a top-level `|` (outside groups, classes and escapes).
fn split_top(regex: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let (mut depth, mut class, mut escaped) = (0i32, false, false);
    for c in regex.chars() {
        if !escaped && !class && depth == 0 && c == '|' {
            out.push(String::new());
            continue;
        }
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if class {
            class = c != ']';
        } else if c == '[' {
            class = true;
        } else if c == '(' {
            depth += 1;
        } else if c == ')' {
            depth -= 1;
        }
        if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out
}

/// One branch: whether it is anchored at the start and at the end, and its token sequences (one
/// per combination of alternatives). `None` for anything outside the subset.
fn parse(branch: &str) -> Option<(bool, bool, Vec<Vec<Tok>>)> {
    let chars: Vec<char> = branch.chars().collect();
    let mut i = 0;
    let start = chars.first() == Some(&'^');
    if start {
        i = 1;
    }
    let mut n = chars.len();
    let end = n > i && chars[n - 1] == '$' && !escaped_at(&chars, n - 1);
    if end {
        n -= 1;
    }
    let mut alts: Vec<Vec<Tok>> = vec![Vec::new()];
    while i < n {
        let c = chars[i];
        // What this element matches: alternatives of token runs.
        let (element, next): (Vec<Vec<Tok>>, usize) = match c {
            '.' if chars.get(i + 1) == Some(&'*') => {
                let lazy = chars.get(i + 2) == Some(&'?');
                (vec![vec![Tok::Any]], i + if lazy { 3 } else { 2 })
            }
            '[' => {
                let class: String = chars[i..n.min(i + 5)].iter().collect();
                if class == "[^/]*" {
                    (vec![vec![Tok::Seg]], i + 5)
                } else if class == "[^/]+" {
                    (vec![vec![Tok::One, Tok::Seg]], i + 5)
                } else {
                    return None;
                }
            }
            '(' => {
                let close = (i + 1..n).find(|&j| chars[j] == ')' && !escaped_at(&chars, j))?;
                let mut inner: &[char] = &chars[i + 1..close];
                if inner.starts_with(&['?', ':']) {
                    inner = &inner[2..];
                }
                let mut branches = Vec::new();
                for part in split_chars(inner, '|') {
                    branches.push(literals(&part)?);
                }
                (branches, close + 1)
            }
            '\\' => {
                let e = *chars.get(i + 1)?;
                if !e.is_ascii_punctuation() {
                    return None;
                }
                (vec![vec![Tok::Lit(e)]], i + 2)
            }
            '.' | '*' | '+' | '?' | '{' | '}' | ')' | ']' | '|' | '^' | '$' => return None,
            c => (vec![vec![Tok::Lit(c)]], i + 1),
        };
        let mut element = element;
        let mut next = next;
        match chars.get(next).filter(|_| next < n) {
            Some('?') => {
                if element
                    .iter()
                    .any(|e| e.contains(&Tok::Any) || e.contains(&Tok::Seg))
                {
                    return None;
                }
                element.push(Vec::new());
                next += 1;
            }
            Some('*' | '+' | '{') => return None,
            _ => {}
        }
        let mut grown = Vec::new();
        for a in &alts {
            for e in &element {
                let mut t = a.clone();
                t.extend(e.iter().copied());
                grown.push(t);
            }
        }
        if grown.len() > MAX_PATTERNS {
            return None;
        }
        alts = grown;
        i = next;
    }
    Some((start, end, alts))
}

fn escaped_at(chars: &[char], at: usize) -> bool {
    let backslashes = chars[..at].iter().rev().take_while(|c| **c == '\\').count();
    backslashes % 2 == 1
}

fn split_chars(chars: &[char], sep: char) -> Vec<Vec<char>> {
    let mut out = vec![Vec::new()];
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == sep && !escaped_at(chars, i) {
            out.push(Vec::new());
        } else if let Some(last) = out.last_mut() {
            last.push(chars[i]);
        }
        i += 1;
    }
    out
}

/// A run of literal characters (escaped punctuation allowed); `None` for anything else.
fn literals(chars: &[char]) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                let e = *chars.get(i + 1)?;
                if !e.is_ascii_punctuation() {
                    return None;
                }
                out.push(Tok::Lit(e));
                i += 2;
            }
            '.' | '*' | '+' | '?' | '{' | '}' | '(' | ')' | '[' | ']' | '|' | '^' | '$' => {
                return None
            }
            c => {
                out.push(Tok::Lit(c));
                i += 1;
            }
        }
    }
    Some(out)
}

/// One token sequence as patterns (see the module header).
fn convert_sequence(start: bool, end: bool, toks: Vec<Tok>) -> Conversion {
    let mut seq = Vec::new();
    if !start {
        seq.push(Tok::Any);
    }
    seq.extend(toks);
    if !end {
        seq.push(Tok::Any);
    }
    // Adjacent stars: `.*` swallows `[^/]*`.
    let mut merged: Vec<Tok> = Vec::new();
    for t in seq {
        match (merged.last().copied(), t) {
            (Some(Tok::Any), Tok::Any | Tok::Seg) => {}
            (Some(Tok::Seg), Tok::Any) => {
                merged.pop();
                merged.push(Tok::Any);
            }
            (Some(Tok::Seg), Tok::Seg) => {}
            _ => merged.push(t),
        }
    }
    if merged == [Tok::Any] {
        return Conversion::Everything;
    }
    let leading = merged.first() == Some(&Tok::Any);
    if leading {
        merged.remove(0);
    }
    let anys: Vec<usize> = merged
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == Tok::Any)
        .map(|(i, _)| i)
        .collect();
    let Some(bodies) = (match anys.as_slice() {
        [] => render(&merged).map(|b| vec![b]),
        [k] => split_any(&merged[..*k], &merged[k + 1..]),
        _ => None,
    }) else {
        return Conversion::Inexact;
    };
    let mut out = Vec::new();
    for body in bodies {
        if body.is_empty() || body.ends_with('/') || body.starts_with('/') {
            // The empty path, only folders, or absolute paths: never a file path relative to
            // the folder.
            return Conversion::Inexact;
        }
        let pattern = if leading {
            let named = format!("*{body}");
            if named.contains('/') {
                format!("**/{named}")
            } else {
                named
            }
        } else if body.contains('/') {
            body
        } else {
            format!("/{body}")
        };
        out.push(pattern);
    }
    Conversion::Globs(out)
}

/// `X.*Y` as patterns.
fn split_any(x: &[Tok], y: &[Tok]) -> Option<Vec<String>> {
    let (x, y) = (render(x)?, render(y)?);
    Some(match (x.ends_with('/'), y.is_empty()) {
        (true, true) => vec![format!("{x}**")],
        (true, false) => vec![format!("{x}**/*{y}")],
        (false, true) => vec![format!("{x}*"), format!("{x}*/**")],
        (false, false) => vec![format!("{x}*{y}"), format!("{x}*/**/*{y}")],
    })
}

/// Tokens without `.*` as pattern text; `None` for a character a pattern cannot hold unquoted.
fn render(toks: &[Tok]) -> Option<String> {
    let mut out = String::new();
    for t in toks {
        match t {
            Tok::Lit(c) if c.is_whitespace() || c.is_control() || *c == '"' => return None,
            Tok::Lit(c @ ('*' | '?' | '[' | ']' | '\\' | '#' | '!')) => {
                out.push('\\');
                out.push(*c);
            }
            Tok::Lit(c) => out.push(*c),
            Tok::One => out.push('?'),
            Tok::Seg => out.push('*'),
            Tok::Any => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globs(re: &str) -> Vec<String> {
        match convert(re) {
            Conversion::Globs(g) => g,
            other => panic!("{re}: {other:?}"),
        }
    }

    #[test]
    fn common_forms_become_patterns() {
        assert_eq!(globs(r"\.enc\.yaml$"), ["*.enc.yaml"]);
        assert_eq!(globs(r"secrets/.*\.yaml$"), ["**/*secrets/**/*.yaml"]);
        assert_eq!(globs(r"^secrets/.*\.yaml$"), ["secrets/**/*.yaml"]);
        assert_eq!(globs(r".*\.sops\..*"), ["*.sops.*", "**/*.sops.*/**"]);
        assert_eq!(globs(r"^secrets/"), ["secrets/**"]);
        assert_eq!(globs(r"secrets/"), ["**/*secrets/**"]);
        assert_eq!(globs(r"^prod\.env$"), ["/prod.env"]);
        assert_eq!(globs(r"\.(yaml|json)$"), ["*.yaml", "*.json"]);
        assert_eq!(globs(r"\.ya?ml$"), ["*.yaml", "*.yml"]);
        assert_eq!(
            globs(r"\.enc\.yaml$|\.enc\.json$"),
            ["*.enc.yaml", "*.enc.json"]
        );
        assert_eq!(globs(r"^k8s/[^/]*\.yaml$"), ["k8s/*.yaml"]);
        assert_eq!(globs(r"^k8s/[^/]+\.yaml$"), ["k8s/?*.yaml"]);
        assert_eq!(globs(r"^a.*b$"), ["/a*b", "a*/**/*b"]);
        assert_eq!(globs(r"prod"), ["*prod*", "**/*prod*/**"]);
    }

    #[test]
    fn everything_is_recognised() {
        assert_eq!(convert(""), Conversion::Everything);
        assert_eq!(convert(".*"), Conversion::Everything);
        assert_eq!(convert("^.*$"), Conversion::Everything);
        assert_eq!(convert("[^/]*"), Conversion::Everything);
    }

    #[test]
    fn anything_else_is_inexact() {
        for re in [
            r".*.yaml$", // a lone `.` also matches `/`
            r"\d+\.yaml$",
            r"(?i)\.yaml$",
            r"[abc]\.yaml$",
            r"a{2}\.yaml$",
            r"^/abs/.*",
            r"dir/$",
            r"^a.*b.*c$",
            r"my file\.yaml$",
            r"\.ya+ml$",
            r"^$",
        ] {
            assert_eq!(convert(re), Conversion::Inexact, "{re}");
        }
    }

    #[test]
    fn glob_characters_in_names_are_escaped() {
        assert_eq!(globs(r"^a\*b\[1\]\.yaml$"), [r"/a\*b\[1\].yaml"]);
        assert_eq!(globs(r"^#x$"), [r"/\#x"]);
    }
}
