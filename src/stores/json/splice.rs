//! Writing new leaf texts into a parsed JSON file's own bytes, and the `sops` member in, out or
//! replaced, laid out with the file's own indentation and line breaks.

use super::emit::indent_unit;
use super::fill;
use super::scanner::is_json_number;
use super::Layout;
use crate::filebytes::FileBytes;
use crate::gotext::float_json;
use crate::stores::gojson::{minimal_string_len, push_minimal_string, GoJsonWriter};
use crate::stores::text::{into_vec, line_break_of, Edit};
use crate::stores::{Changes, NewLeaf, Parsed, StoreError, StoreOptions};
use crate::tree::{Scalar, Value};
use crate::wipe::Wiped;

/// Detect the file's top-level indentation: the blank run before the first member's key.
fn detect_indent(layout: &Layout, src: &[u8]) -> Option<String> {
    let first = layout.members.first()?;
    let before = src.get(layout.open_brace + 1..first.key_start)?;
    let newline = before.iter().rposition(|&b| b == b'\n')?;
    let run = &before[newline + 1..];
    if run.iter().all(|&b| b == b' ' || b == b'\t') {
        Some(String::from_utf8_lossy(run).into_owned())
    } else {
        None
    }
}

/// The indentation unit of what is written into the file: the configured one, else the file's
/// own, else a tab.
pub(super) fn indent_unit_in(
    layout: &Layout,
    src: &[u8],
    options: &StoreOptions,
) -> Result<String, StoreError> {
    match options.indent {
        Some(_) => indent_unit(options.indent),
        None => Ok(detect_indent(layout, src).unwrap_or_else(|| "\t".to_string())),
    }
}

/// What replaces a span of the source: borrowed from the changes where it can be, so that the
/// output is written in one pass into one buffer of its exact size.
enum Text<'a> {
    /// Bytes written as they are.
    Raw(&'a [u8]),
    /// A string, written as a JSON string with the minimal escaping.
    Quoted(&'a str),
    /// An `ENC[...]` value, written in quotes as it is: it is base64 and the marker's own ASCII
    /// letters and signs, none of which JSON escapes (so it is not scanned for them, twice, as
    /// a string is; were one there, the output's check would find the output is not JSON).
    Token(&'a str),
    /// Bytes made for this edit.
    Made(Wiped<Vec<u8>>),
}

impl Text<'_> {
    fn len(&self) -> usize {
        match self {
            Text::Raw(b) => b.len(),
            Text::Quoted(s) => minimal_string_len(s),
            Text::Token(s) => s.len() + 2,
            Text::Made(b) => b.len(),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Text::Raw(b) => out.extend_from_slice(b),
            Text::Quoted(s) => push_minimal_string(out, s),
            Text::Token(s) => {
                debug_assert_eq!(minimal_string_len(s), s.len() + 2, "an ENC value to escape");
                out.push(b'"');
                out.extend_from_slice(s.as_bytes());
                out.push(b'"');
            }
            Text::Made(b) => out.extend_from_slice(b),
        }
    }
}

/// A replacement of `source[start..end]`.
struct Piece<'a> {
    start: usize,
    end: usize,
    text: Text<'a>,
}

impl From<Edit> for Piece<'_> {
    fn from(edit: Edit) -> Self {
        Piece {
            start: edit.start,
            end: edit.end,
            text: Text::Made(edit.text),
        }
    }
}

/// The text of a plaintext leaf as a JSON token (lossless where the original spelling allows).
fn plain_token<'a>(value: &'a Scalar, text: &'a str) -> Result<Text<'a>, StoreError> {
    let made = |bytes: Vec<u8>| Text::Made(Wiped::new(bytes));
    Ok(match value {
        Scalar::Null => Text::Raw(b"null"),
        Scalar::Bool(b) => Text::Raw(if *b { b"true" } else { b"false" }),
        Scalar::Int(i) => {
            if is_json_number(text) && text.parse::<i64>().ok() == Some(*i) {
                Text::Raw(text.as_bytes())
            } else {
                made(i.to_string().into_bytes())
            }
        }
        Scalar::Float(f) => {
            if !f.is_finite() {
                return Err(StoreError::new(
                    "json: unsupported value: a non-finite float",
                ));
            }
            if is_json_number(text) && text.parse::<f64>().ok() == Some(*f) {
                Text::Raw(text.as_bytes())
            } else {
                made(float_json(*f).into_bytes())
            }
        }
        Scalar::Str(s) | Scalar::Time(s) | Scalar::Comment(s) => Text::Quoted(s),
        Scalar::Bytes(b) => {
            let mut out = Wiped::new(Vec::new());
            push_minimal_string(&mut out, &String::from_utf8_lossy(b));
            Text::Made(out)
        }
    })
}

/// The text that replaces a changed leaf's token.
fn leaf_text(change: &NewLeaf) -> Result<Text<'_>, StoreError> {
    Ok(match change {
        NewLeaf::Encrypted(enc) => Text::Token(enc),
        NewLeaf::Plain { value, text } => plain_token(value, text)?,
    })
}

/// Leaf-replacement pieces for `changes` (in leaf order, which is the file's order).
fn leaf_pieces<'a>(layout: &Layout, changes: &'a Changes) -> Result<Vec<Piece<'a>>, StoreError> {
    let mut pieces = Vec::with_capacity(changes.len() + 1);
    for (id, change) in changes.iter().enumerate() {
        let (Some(change), Some(&(start, end))) = (change, layout.leaf_spans.get(id)) else {
            continue;
        };
        let text = leaf_text(change)?;
        pieces.push(Piece { start, end, text });
    }
    Ok(pieces)
}

/// One piece of a splice: a changed leaf (its text is made only where it is written), or a
/// piece made beforehand (the `sops` member's edit).
enum Visit<'p, 'a> {
    Leaf {
        start: usize,
        end: usize,
        change: &'a NewLeaf,
    },
    Made(&'p Piece<'a>),
}

impl Visit<'_, '_> {
    fn span(&self) -> (usize, usize) {
        match self {
            Visit::Leaf { start, end, .. } => (*start, *end),
            Visit::Made(p) => (p.start, p.end),
        }
    }

    /// At least the length of the piece's text, without making it.
    fn len_bound(&self) -> Result<usize, StoreError> {
        Ok(match self {
            Visit::Leaf {
                change: NewLeaf::Encrypted(enc),
                ..
            } => enc.len() + 2,
            Visit::Leaf {
                change: NewLeaf::Plain { value, text },
                ..
            } => plain_len_bound(value, text)?,
            Visit::Made(p) => p.text.len(),
        })
    }

    /// The piece's bytes where they are known without making them: an `ENC[...]` value, or
    /// bytes made beforehand (see [`fill`]).
    fn known(&self) -> Option<fill::Known<'_>> {
        match self {
            Visit::Leaf {
                change: NewLeaf::Encrypted(enc),
                ..
            } => quoted(enc),
            Visit::Leaf { .. } => None,
            Visit::Made(p) => match &p.text {
                Text::Raw(b) => Some([b, b"", b""]),
                Text::Made(b) => Some([b, b"", b""]),
                Text::Token(s) => quoted(s),
                Text::Quoted(_) => None,
            },
        }
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<(), StoreError> {
        match self {
            Visit::Leaf { change, .. } => leaf_text(change)?.write(out),
            Visit::Made(p) => p.text.write(out),
        }
        Ok(())
    }
}

/// An `ENC[...]` value's bytes in quotes (JSON escapes none of its characters).
fn quoted(token: &str) -> Option<fill::Known<'_>> {
    Some([b"\"", token.as_bytes(), b"\""])
}

/// The longest number [`plain_token`] makes: `i64::MIN` is 20 characters, Go's shortest float
/// spellings at most 25 (`-0.0000012345678901234567`, `-1.2345678901234567e-308`).
const MADE_NUMBER_MAX: usize = 32;

/// At least the length of [`plain_token`]'s text for this value, without making it (no float is
/// parsed, no number spelled): the splice's measuring pass.
fn plain_len_bound(value: &Scalar, text: &str) -> Result<usize, StoreError> {
    Ok(match value {
        Scalar::Null => 4,
        Scalar::Bool(_) => 5,
        Scalar::Int(_) | Scalar::Float(_) => text.len().max(MADE_NUMBER_MAX),
        Scalar::Str(s) | Scalar::Time(s) | Scalar::Comment(s) => minimal_string_len(s),
        Scalar::Bytes(_) => plain_token(value, text)?.len(),
    })
}

/// Visit the pieces of `changes` and `extra` in file order, without keeping them: the leaves' in
/// leaf order, `extra` where sorting by span would put it. `false` (and `f` stops being called)
/// as soon as one starts before the end of the one before: then they are laid out by
/// [`assemble`], which sorts them and refuses overlaps.
fn visit_in_order<'a>(
    layout: &Layout,
    changes: &'a Changes,
    extra: Option<&Piece<'a>>,
    f: &mut dyn FnMut(&Visit<'_, 'a>) -> Result<(), StoreError>,
) -> Result<bool, StoreError> {
    let mut extra = extra;
    let mut pos = 0;
    let mut visit = |v: &Visit<'_, 'a>, pos: &mut usize| -> Result<bool, StoreError> {
        let (start, end) = v.span();
        if start < *pos || end < start {
            return Ok(false);
        }
        f(v)?;
        *pos = end;
        Ok(true)
    };
    for (id, change) in changes.iter().enumerate() {
        let (Some(change), Some(&(start, end))) = (change, layout.leaf_spans.get(id)) else {
            continue;
        };
        if let Some(e) = extra.filter(|e| (e.start, e.end) < (start, end)) {
            if !visit(&Visit::Made(e), &mut pos)? {
                return Ok(false);
            }
            extra = None;
        }
        if !visit(&Visit::Leaf { start, end, change }, &mut pos)? {
            return Ok(false);
        }
    }
    match extra {
        Some(e) => visit(&Visit::Made(e), &mut pos),
        None => Ok(true),
    }
}

/// `src` with the pieces of `changes` and `extra` in place of their spans, when they come in file
/// order (they do, but for a layout this does not expect): measured in one pass (a bound that
/// makes no text: numbers are neither parsed nor spelled there), written in a second into a
/// buffer that never grows (a reallocation would leave an unwiped copy behind), with no list of
/// them kept (a large file has hundreds of thousands). `None` when they are not in order.
fn assemble_in_order(
    src: &[u8],
    layout: &Layout,
    changes: &Changes,
    extra: Option<&Piece<'_>>,
    release: Option<&FileBytes>,
) -> Result<Option<Wiped<Vec<u8>>>, StoreError> {
    let mut size = src.len();
    let mut fits = true;
    let mut cut = fill::CutFinder::new(src.len());
    let in_order = visit_in_order(layout, changes, extra, &mut |v| {
        let (start, end) = v.span();
        fits &= end <= src.len();
        size = (size + v.len_bound()?).saturating_sub(end - start);
        cut.piece(start, end, v.known());
        Ok(())
    })?;
    if !in_order || !fits {
        return Ok(None);
    }
    if let Some(cut) = cut.cut(size) {
        let each = |half: &mut fill::Half<'_, '_>| {
            let in_order = visit_in_order(layout, changes, extra, &mut |v| {
                let (start, end) = v.span();
                half.piece(start, end, v.known());
                Ok(())
            })?;
            if !in_order {
                half.refuse();
            }
            Ok(())
        };
        if let Some(out) = fill::in_halves(src, size, cut, release, &each)? {
            return Ok(Some(out));
        }
    }
    let mut out = Wiped::new(Vec::with_capacity(size));
    let mut pos = 0;
    visit_in_order(layout, changes, extra, &mut |v| {
        let (start, end) = v.span();
        out.extend_from_slice(&src[pos..start]);
        v.write(&mut out)?;
        pos = end;
        if let Some(mapped) = release {
            mapped.release_before(pos);
        }
        Ok(())
    })?;
    out.extend_from_slice(&src[pos..]);
    Ok(Some(out))
}

/// `src` with non-overlapping `pieces` (any order) in place of their spans, written once into a
/// buffer of its exact size (no reallocation, which would leave unwiped copies behind). Overlaps
/// are refused rather than dropped, so that an encryption can never be silently lost.
fn assemble(src: &[u8], pieces: &mut [Piece]) -> Result<Wiped<Vec<u8>>, StoreError> {
    // Leaf pieces come in file order: this sort only places the metadata's.
    pieces.sort_by_key(|p| (p.start, p.end));
    let mut size = src.len();
    let mut pos = 0;
    for p in pieces.iter() {
        if p.start < pos || p.end < p.start || p.end > src.len() {
            return Err(StoreError::new(
                "internal error: overlapping edits while writing the file",
            ));
        }
        size = size + p.text.len() - (p.end - p.start);
        pos = p.end;
    }
    let mut out = Wiped::new(Vec::with_capacity(size));
    let mut pos = 0;
    for p in pieces.iter() {
        out.extend_from_slice(&src[pos..p.start]);
        p.text.write(&mut out);
        pos = p.end;
    }
    out.extend_from_slice(&src[pos..]);
    Ok(out)
}

/// The edit that writes `metadata` as the `sops` member: replacing the existing one's value, or
/// appended after the last member, or as the only member of an empty object.
fn metadata_edit(
    layout: &Layout,
    src: &[u8],
    metadata: &Value,
    options: &StoreOptions,
    newline: &str,
) -> Result<Edit, StoreError> {
    let unit = indent_unit_in(layout, src, options)?;
    let writer = GoJsonWriter {
        indent_unit: &unit,
        newline,
    };
    let mut block = Wiped::new(Vec::new());
    if let Some(index) = layout.sops_member {
        writer.value(&mut block, metadata, 1)?;
        let member = layout.members[index];
        return Ok(Edit {
            start: member.value_start,
            end: member.value_end,
            text: block,
        });
    }
    let last = layout.members.last();
    if last.is_some() {
        block.push(b',');
    }
    writer.indent(&mut block, 1);
    block.extend_from_slice(b"\"sops\": ");
    writer.value(&mut block, metadata, 1)?;
    let at = match last {
        Some(last) => last.value_end,
        None => {
            block.extend_from_slice(newline.as_bytes());
            layout.open_brace + 1
        }
    };
    Ok(Edit {
        start: at,
        end: at,
        text: block,
    })
}

/// The edit that removes the `sops` member (the `index`th member) with its separator.
fn metadata_removal(layout: &Layout, src: &[u8], index: usize) -> Edit {
    let member = layout.members[index];
    let (start, end) = if index + 1 < layout.members.len() {
        (member.key_start, layout.members[index + 1].key_start)
    } else if index > 0 {
        (layout.members[index - 1].value_end, member.value_end)
    } else {
        // The only member: remove it and the line break that follows it.
        let mut end = member.value_end;
        if src[end..].starts_with(b"\r\n") {
            end += 2;
        } else if src[end..].starts_with(b"\n") {
            end += 1;
        }
        (layout.open_brace + 1, end)
    };
    Edit::delete(start, end)
}

pub fn splice(
    layout: &Layout,
    _parsed: &Parsed,
    changes: &Changes,
    metadata: Option<&Value>,
    options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    // The source's pages behind the splice are given back as it goes, where it is mapped.
    let src = &layout.src;
    splice_with(layout, src, Some(src), changes, metadata, options)
}

/// [`splice`] of the source bytes `src` (those of a reading that keeps none of its own).
pub fn splice_from(
    layout: &Layout,
    src: &[u8],
    _parsed: &Parsed,
    changes: &Changes,
    metadata: Option<&Value>,
    options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    splice_with(layout, src, None, changes, metadata, options)
}

/// [`splice_from`], giving back `release`'s pages (the mapping `src` is) behind the splice.
fn splice_with(
    layout: &Layout,
    src: &[u8],
    release: Option<&FileBytes>,
    changes: &Changes,
    metadata: Option<&Value>,
    options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let extra = metadata_piece(layout, src, metadata, options)?;
    made(src, layout, changes, extra, release)
}

/// [`splice_from`], made only where it is not `expected` (`None`: it is exactly `expected`):
/// each piece is compared with `expected` where it would be written, none of them kept (an
/// encryption asks whether decrypting its output gives the plaintext's bytes back, and the
/// answer is nearly always yes: the splice was a whole output's fresh pages, written, compared
/// and wiped; docs/performance.md, twenty-second round).
pub fn splice_from_unless(
    layout: &Layout,
    src: &[u8],
    _parsed: &Parsed,
    changes: &Changes,
    metadata: Option<&Value>,
    options: &StoreOptions,
    expected: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    let extra = metadata_piece(layout, src, metadata, options)?;
    Ok(
        match same_in_order(src, layout, changes, extra.as_ref(), expected)? {
            Some(true) => None,
            Some(false) => Some(made(src, layout, changes, extra, None)?),
            // Not in order: only the splice itself tells.
            None => {
                crate::stores::unless_expected(made(src, layout, changes, extra, None)?, expected)
            }
        },
    )
}

/// What writes the `sops` member: `metadata` in it, or it removed.
fn metadata_piece<'a>(
    layout: &Layout,
    src: &[u8],
    metadata: Option<&Value>,
    options: &StoreOptions,
) -> Result<Option<Piece<'a>>, StoreError> {
    Ok(match (metadata, layout.sops_member) {
        (Some(meta), _) => {
            Some(metadata_edit(layout, src, meta, options, line_break_of(src))?.into())
        }
        (None, Some(index)) => Some(metadata_removal(layout, src, index).into()),
        (None, None) => None,
    })
}

/// `src` with the pieces of `changes` and `extra` in place of their spans; `release`, the
/// mapping `src` is, gives back its pages behind the pieces written.
fn made(
    src: &[u8],
    layout: &Layout,
    changes: &Changes,
    extra: Option<Piece<'_>>,
    release: Option<&FileBytes>,
) -> Result<Vec<u8>, StoreError> {
    if let Some(mapped) = release {
        mapped.rewind_release();
    }
    if let Some(out) = assemble_in_order(src, layout, changes, extra.as_ref(), release)? {
        return Ok(into_vec(out));
    }
    let mut pieces = leaf_pieces(layout, changes)?;
    pieces.extend(extra);
    Ok(into_vec(assemble(src, &mut pieces)?))
}

/// Whether [`assemble_in_order`] would give exactly `expected`, told piece by piece without
/// making it (each leaf's text is made in a small buffer, wiped); `None` when the pieces are not
/// in order (then only the splice itself tells).
fn same_in_order(
    src: &[u8],
    layout: &Layout,
    changes: &Changes,
    extra: Option<&Piece<'_>>,
    expected: &[u8],
) -> Result<Option<bool>, StoreError> {
    // Where `expected` has been compared up to, and `src` copied up to.
    let (mut at, mut pos) = (0, 0);
    let mut same = true;
    // Sized for each text before it is written, so that it never grows with a value in it
    // (a reallocation would leave an unwiped copy behind).
    let mut text = Wiped::new(Vec::new());
    let in_order = visit_in_order(layout, changes, extra, &mut |v| {
        let (start, end) = v.span();
        // After a difference the rest is only visited (the visit cannot be stopped but by an
        // error, which would be taken for the splice's).
        if !same {
            return Ok(());
        }
        same = src
            .get(pos..start)
            .is_some_and(|kept| continues(expected, &mut at, kept));
        if !same {
            return Ok(());
        }
        let bound = v.len_bound()?;
        if text.capacity() < bound {
            text = Wiped::new(Vec::with_capacity(bound.max(256)));
        }
        text.clear();
        v.write(&mut text)?;
        same = continues(expected, &mut at, &text);
        pos = end;
        Ok(())
    })?;
    if !in_order {
        return Ok(None);
    }
    Ok(Some(
        same && src
            .get(pos..)
            .is_some_and(|rest| continues(expected, &mut at, rest))
            && at == expected.len(),
    ))
}

/// Whether `expected` goes on at `at` with `piece`; `at` moves past it.
fn continues(expected: &[u8], at: &mut usize, piece: &[u8]) -> bool {
    let here = expected.get(*at..).and_then(|rest| rest.get(..piece.len()));
    *at = at.saturating_add(piece.len());
    here == Some(piece)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::json::parse;
    use crate::stores::testutil::*;
    use crate::tree::secret;

    const INPUTS: &[&str] = &[
        "{\n\t\"a\": \"b\",\n\t\"n\": 2.50,\n\t\"big\": 12345678901234567890123,\n\t\"e\": 1e3,\n\t\"t\": true,\n\t\"z\": null,\n\t\"empty\": \"\",\n\t\"nested\": {\"x\": [1, \"two\", {\"y\": \"\u{e9}\u{1F600} <&> \\\"q\\\" \\\\ \\n \\t\"}], \"o\": {}, \"l\": []}\n}\n",
        "{\r\n    \"a\": \"b\",\r\n    \"c\": -0\r\n}",
        "{\"compact\":\"yes\",\"n\":-12}",
        "{}",
        "{ }\n",
        "  {\n  \"a\": 1\n  }  \n\n",
        "{\n\"noindent\": \"x\"\n}\n",
    ];

    fn layout(p: &Parsed) -> &Layout {
        p.layout.of::<Layout>().unwrap()
    }

    #[test]
    fn round_trips() {
        for src in INPUTS {
            round_trip(src, parse, |p, c, m| {
                splice(layout(p), p, c, m, &StoreOptions::default())
            });
        }
    }

    /// Written in order without a list of pieces, a splice is the one the sorted list gives,
    /// with the metadata added, replaced or removed, and every leaf or every other one changed.
    #[test]
    fn in_order_assembly_is_the_sorted_one() {
        let meta = sample_metadata();
        let with_sops =
            "{\n\t\"a\": 1,\n\t\"sops\": {\"version\": \"x\"},\n\t\"b\": [2, \"c\"]\n}\n";
        for src in INPUTS.iter().copied().chain([with_sops]) {
            let p = parse(src.as_bytes()).unwrap();
            let n = collect(&p.tree).len();
            for step in [1, 2] {
                let changes: Vec<Option<NewLeaf>> = (0..n)
                    .map(|i| (i % step == 0).then(|| NewLeaf::Encrypted(format!("ENC[{i}]"))))
                    .collect();
                for metadata in [Some(&meta), None] {
                    let l = layout(&p);
                    let extra: Option<Piece> = match (metadata, l.sops_member) {
                        (Some(m), _) => Some(
                            metadata_edit(l, &l.src, m, &StoreOptions::default(), "\n")
                                .unwrap()
                                .into(),
                        ),
                        (None, Some(i)) => Some(metadata_removal(l, &l.src, i).into()),
                        (None, None) => None,
                    };
                    let in_order = assemble_in_order(&l.src, l, &changes, extra.as_ref(), None)
                        .unwrap()
                        .expect("in order");
                    let mut pieces = leaf_pieces(l, &changes).unwrap();
                    pieces.extend(extra);
                    let sorted = assemble(&l.src, &mut pieces).unwrap();
                    assert_eq!(*in_order, *sorted, "{src:?}");
                }
            }
        }
    }

    /// The measuring pass's bound is never below the text the writing pass makes, for the
    /// longest numbers either spelling gives and for values whose spelling is kept; and plain
    /// values are written in order as the sorted list writes them.
    #[test]
    fn plain_texts_are_bounded_and_written_in_order() {
        let values = [
            (Scalar::Int(i64::MIN), "x"),
            (Scalar::Int(i64::MAX), "9223372036854775807"),
            (Scalar::Float(-1.2345678901234567e-308), "x"),
            (Scalar::Float(-0.0000012345678901234567), "x"),
            (Scalar::Float(-123456789012345680000.0), "x"),
            (Scalar::Float(f64::MIN), "x"),
            (Scalar::Float(f64::MIN_POSITIVE), "x"),
            (
                Scalar::Float(100.0),
                "100.000000000000000000000000000000000000000",
            ),
            (Scalar::Float(0.5), "5e-1"),
            (Scalar::Bool(false), "false"),
            (Scalar::Null, "null"),
            (Scalar::Str(secret("a \"quoted\" \u{1} line\n")), "x"),
            (Scalar::Bytes(crate::wipe::Wiped::new(vec![0xff, b'a'])), ""),
        ];
        for (value, text) in &values {
            let made = plain_token(value, text).unwrap().len();
            let bound = plain_len_bound(value, text).unwrap();
            assert!(made <= bound, "{value:?} {text:?}: {made} > {bound}");
        }
        let src = "{\"a\": 1, \"b\": [2, 3.5, \"c\", true], \"d\": null}\n";
        let p = parse(src.as_bytes()).unwrap();
        let l = layout(&p);
        let changes: Vec<Option<NewLeaf>> = values
            .iter()
            .take(collect(&p.tree).len())
            .map(|(value, text)| {
                Some(NewLeaf::Plain {
                    value: value.clone(),
                    text: secret(*text),
                })
            })
            .collect();
        let in_order = assemble_in_order(&l.src, l, &changes, None, None)
            .unwrap()
            .expect("in order");
        let mut pieces = leaf_pieces(l, &changes).unwrap();
        assert_eq!(*in_order, *assemble(&l.src, &mut pieces).unwrap());
    }

    /// A large encryption's splice is written in halves ([`fill`]): the same bytes as the
    /// sorted pieces give, with the metadata added and with a value left in clear in each half.
    #[test]
    fn a_large_splice_in_halves_is_the_splice_on_one_thread() {
        let mut src = String::from("{\n");
        for i in 0..6000 {
            src.push_str(&format!(
                "  \"k{i}\": {{\"name\": \"value {i}\", \"n\": {i}, \"l\": [true, null]}},\n"
            ));
        }
        src.push_str("  \"last\": \"x\"\n}\n");
        let p = parse(src.as_bytes()).unwrap();
        let l = layout(&p);
        let leaves = collect(&p.tree).len();
        let changes: Vec<Option<NewLeaf>> = (0..leaves)
            .map(|i| {
                (i % 1000 != 7).then(|| {
                    NewLeaf::Encrypted(format!(
                        "ENC[AES256_GCM,data:{},type:str]",
                        "A".repeat(i % 97)
                    ))
                })
            })
            .collect();
        let meta = sample_metadata();
        let extra: Option<Piece> = Some(
            metadata_edit(l, &l.src, &meta, &StoreOptions::default(), "\n")
                .unwrap()
                .into(),
        );
        let mut size = l.src.len();
        let mut cut = fill::CutFinder::new(l.src.len());
        assert!(visit_in_order(l, &changes, extra.as_ref(), &mut |v| {
            let (start, end) = v.span();
            size = size + v.len_bound()? - (end - start);
            cut.piece(start, end, v.known());
            Ok(())
        })
        .unwrap());
        assert!(cut.cut(size).is_some(), "written in halves");
        let in_halves = assemble_in_order(&l.src, l, &changes, extra.as_ref(), None)
            .unwrap()
            .expect("in order");
        let mut pieces = leaf_pieces(l, &changes).unwrap();
        pieces.extend(extra);
        assert_eq!(*in_halves, *assemble(&l.src, &mut pieces).unwrap());
        // A value in clear is not known beforehand: written on one thread, the same bytes.
        let mut plain = changes.clone();
        plain[1] = Some(NewLeaf::Plain {
            value: Scalar::Int(1),
            text: secret("1"),
        });
        let on_one = assemble_in_order(&l.src, l, &plain, None, None)
            .unwrap()
            .expect("in order");
        let mut pieces = leaf_pieces(l, &plain).unwrap();
        assert_eq!(*on_one, *assemble(&l.src, &mut pieces).unwrap());
    }

    #[test]
    fn metadata_placement() {
        let src = "{\n    \"a\": \"b\"\n}\n";
        let p = parse(src.as_bytes()).unwrap();
        let meta = sample_metadata();
        let out = splice(
            layout(&p),
            &p,
            &[None],
            Some(&meta),
            &StoreOptions::default(),
        )
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.starts_with(
                "{\n    \"a\": \"b\",\n    \"sops\": {\n        \"age\": [\n            {\n"
            ),
            "{out}"
        );
        assert!(
            out.ends_with("\"version\": \"3.11.0\"\n    }\n}\n"),
            "{out}"
        );
    }

    #[test]
    fn plain_rendering() {
        let t = |v: Scalar, s: &str| {
            let token = plain_token(&v, s).unwrap();
            let mut out = Vec::new();
            token.write(&mut out);
            assert_eq!(out.len(), token.len());
            String::from_utf8(out).unwrap()
        };
        assert_eq!(t(Scalar::Float(2.5), "2.50"), "2.50");
        assert_eq!(t(Scalar::Float(2.5), "2.5000001"), "2.5");
        assert_eq!(t(Scalar::Float(1e300), "x"), "1e+300");
        assert_eq!(t(Scalar::Int(3), "3"), "3");
        assert_eq!(t(Scalar::Int(3), "3.0"), "3");
        assert_eq!(t(Scalar::Bool(true), "True"), "true");
        assert_eq!(
            t(Scalar::Str(secret("a\"<\u{1}\u{8}")), ""),
            "\"a\\\"<\\u0001\\b\""
        );
    }
}
