//! A lexical pass over a TOML file that `toml_edit` has already accepted: where its comments are
//! and where its table headers are. `toml_edit` keeps comments only as raw decoration text and
//! gives no header spans, and both are needed to splice: comments are leaves (encrypted like
//! YAML comments) and the `[sops]` table is cut out by its headers.

/// A `#` comment: `text` is the range after the `#` up to the end of the line (without a CR).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Comment {
    pub hash: usize,
    pub text: (usize, usize),
}

/// A `[table]` or `[[array]]` header: `line_start` is the start of its line, `inner` the range
/// between the brackets (its dotted key, as written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Header {
    pub line_start: usize,
    pub inner: (usize, usize),
    /// `[[array]]` rather than `[table]`.
    pub array: bool,
}

/// Comments and headers of a valid TOML text, in file order.
#[derive(Debug, Default)]
pub(super) struct Scan {
    pub comments: Vec<Comment>,
    pub headers: Vec<Header>,
}

/// The end of the string starting at `at` (which is a quote), past its closing delimiter.
fn string_end(src: &[u8], at: usize) -> usize {
    let quote = src[at];
    let triple = src.len() >= at + 3 && src[at + 1] == quote && src[at + 2] == quote;
    let escapes = quote == b'"';
    let mut i = if triple { at + 3 } else { at + 1 };
    while i < src.len() {
        let b = src[i];
        if escapes && b == b'\\' {
            i += 2;
            continue;
        }
        if b == quote {
            if !triple {
                return i + 1;
            }
            if src.len() >= i + 3 && src[i + 1] == quote && src[i + 2] == quote {
                // Up to two more quotes belong to the content (`""""` ends after four).
                let mut end = i + 3;
                let mut extra = 0;
                while extra < 2 && end < src.len() && src[end] == quote {
                    end += 1;
                    extra += 1;
                }
                return end;
            }
        }
        if !triple && b == b'\n' {
            return i;
        }
        i += 1;
    }
    src.len()
}

fn line_start_of(src: &[u8], at: usize) -> usize {
    src[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1)
}

/// Scan a TOML text (already validated by the parser).
pub(super) fn scan(src: &[u8]) -> Scan {
    let mut out = Scan::default();
    let mut depth = 0usize;
    let mut i = 0;
    while i < src.len() {
        match src[i] {
            b'"' | b'\'' => i = string_end(src, i),
            b'#' => {
                let mut end = src[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(src.len(), |p| i + p);
                let line_end = end;
                if end > i + 1 && src[end - 1] == b'\r' {
                    end -= 1;
                }
                out.comments.push(Comment {
                    hash: i,
                    text: (i + 1, end),
                });
                i = line_end;
            }
            b'[' if depth == 0
                && src[line_start_of(src, i)..i]
                    .iter()
                    .all(|&b| b == b' ' || b == b'\t') =>
            {
                let line_start = line_start_of(src, i);
                let open = if src.get(i + 1) == Some(&b'[') { 2 } else { 1 };
                let start = i + open;
                let mut j = start;
                while j < src.len() && src[j] != b']' && src[j] != b'\n' {
                    if src[j] == b'"' || src[j] == b'\'' {
                        j = string_end(src, j);
                    } else {
                        j += 1;
                    }
                }
                out.headers.push(Header {
                    line_start,
                    inner: (start, j.min(src.len())),
                    array: open == 2,
                });
                i = (j + open).min(src.len());
            }
            b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_headers() {
        let src = "# top\r\na = \"#no\" # yes\nb = [ # in\n  [1], '#', \"\"\"x\n#\"\"\"\"]\n  [t.\"]\"]\n[[arr]]\n";
        let s = scan(src.as_bytes());
        let texts: Vec<&str> = s
            .comments
            .iter()
            .map(|c| &src[c.text.0..c.text.1])
            .collect();
        assert_eq!(texts, [" top", " yes", " in"]);
        let heads: Vec<&str> = s
            .headers
            .iter()
            .map(|h| &src[h.inner.0..h.inner.1])
            .collect();
        assert_eq!(heads, ["t.\"]\"", "arr"]);
    }
}
