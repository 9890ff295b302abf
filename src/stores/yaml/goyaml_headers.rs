//! go-yaml's block scalar headers that YAML parsers refuse: go-yaml (hence sops) writes the
//! indentation indicator as its indentation step even where the content is not that far from the
//! parent node. This rewrites such indicators to the distance the content actually has.

use super::source::Source;

/// The source with go-yaml's block scalar indentation indicators replaced by the ones the content
/// has (see [`super::events::read_events`]); `None` when there is none to replace. Every
/// replacement keeps the byte length, so offsets stay valid for the original bytes.
pub(super) fn fix_goyaml_indicators(src: &Source) -> Option<String> {
    let mut out = src.bytes().to_vec();
    let mut changed = false;
    for line_index in 0..src.line_starts().len() {
        if let Some((pos, digit)) = indicator_fix(src, line_index) {
            if let Some(slot) = out.get_mut(pos) {
                *slot = digit;
                changed = true;
            }
        }
    }
    if !changed {
        return None;
    }
    String::from_utf8(out).ok()
}

/// End of the line starting at `line_start` (its line break excluded).
fn line_end(b: &[u8], line_start: usize) -> usize {
    b[line_start..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| line_start + p)
}

/// The indicator to write on line `line_index`, if it ends with a go-yaml header whose content
/// sits closer to the parent node than its indicator says: the indicator's byte and its new
/// digit.
fn indicator_fix(src: &Source, line_index: usize) -> Option<(usize, u8)> {
    let b = src.bytes();
    let ls = *src.line_starts().get(line_index)?;
    let line = &b[ls..line_end(b, ls)];
    let end = line
        .iter()
        .rposition(|c| !matches!(c, b' ' | b'\t' | b'\r'))
        .map_or(0, |i| i + 1);
    let ws = line[..end]
        .iter()
        .rposition(|&c| c == b' ')
        .map_or(0, |i| i + 1);
    let word = &line[ws..end];
    // `|4-`, `|-4`, `>4`, ...
    let dpos = word.iter().position(u8::is_ascii_digit)?;
    let ok_word = matches!(word.first(), Some(b'|' | b'>'))
        && word.len() <= 3
        && word[1..]
            .iter()
            .all(|c| matches!(c, b'1'..=b'9' | b'+' | b'-'));
    if !ok_word {
        return None;
    }
    let digit = usize::from(word[dpos] - b'0');
    let (parent, content) = header_owner(line, ws, digit)?;
    let want = content
        .checked_sub(parent)
        .filter(|w| (1..=9).contains(w))?;
    if want == digit {
        return None;
    }
    if !content_is_shallower(src, line_index, parent, content, digit) {
        return None;
    }
    // `want` is 1..=9.
    Some((ls + ws + dpos, b'0' + want as u8))
}

/// What precedes a header at `header_start` on its line (dashes, then a key and `:`, or node
/// properties): the column of its parent node and the column go-yaml puts the content at.
fn header_owner(line: &[u8], header_start: usize, digit: usize) -> Option<(usize, usize)> {
    let ws = header_start;
    let mut i = line.iter().take_while(|&&c| c == b' ').count();
    let mut dash = None;
    while i + 1 < ws && line[i] == b'-' && line[i + 1] == b' ' {
        dash = Some(i);
        i += 1;
        while i < ws && line[i] == b' ' {
            i += 1;
        }
    }
    let before = &line[i..ws];
    let props_only = before
        .split(|&c| c == b' ')
        .all(|w| w.is_empty() || matches!(w[0], b'&' | b'!'));
    match dash {
        Some(d) if props_only => Some((d, d + 2)),
        _ if before.windows(2).any(|w| w == b": ") => {
            Some((i, digit * ((i + digit) / digit.max(1))))
        }
        _ => None,
    }
}

/// Whether the content lines after line `line_index` (every non-blank one until a line at the
/// parent's column or less) all sit at `content` or deeper, at least one shallower than the
/// indicator `digit` says.
fn content_is_shallower(
    src: &Source,
    line_index: usize,
    parent: usize,
    content: usize,
    digit: usize,
) -> bool {
    let b = src.bytes();
    let mut under = false;
    for &ns in &src.line_starts()[line_index + 1..] {
        let ne = line_end(b, ns);
        let n = b[ns..ne].iter().take_while(|&&c| c == b' ').count();
        // A tab after the indentation is content.
        let blank = b[ns + n..ne].iter().all(|&c| c == b'\r');
        if blank {
            continue;
        }
        if n <= parent {
            break;
        }
        if n < content {
            return false;
        }
        if n < parent + digit {
            under = true;
        }
    }
    under
}
