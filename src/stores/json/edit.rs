//! `set` and `unset` as text edits of a plaintext JSON file: members and elements are inserted
//! after the last one of their object/array with its indentation, replaced values are re-emitted
//! in their span (Go's indented layout at the line's indentation), removed members take their
//! comma along.

use zeroize::Zeroizing;

use super::{
    apply_edits, detect_indent, indent_unit, into_vec, push_go_escaped, uses_crlf, Edit, Layout,
    Pretty, Scanner, MAX_DEPTH,
};
use crate::stores::{StoreError, StoreOptions};
use crate::tree::Value;
use crate::treepath::{build, Step};

struct JNode {
    start: usize,
    end: usize,
    kind: JKind,
}

enum JKind {
    /// Members: decoded key, key token start, value.
    Obj(Vec<(String, usize, JNode)>),
    Arr(Vec<JNode>),
    Scalar,
}

fn node(sc: &mut Scanner, depth: usize) -> Result<JNode, StoreError> {
    if depth > MAX_DEPTH {
        return Err(sc.err("exceeded max depth"));
    }
    sc.skip_ws();
    let start = sc.pos;
    match sc.peek() {
        Some(open @ (b'{' | b'[')) => {
            sc.pos += 1;
            let close = if open == b'{' { b'}' } else { b']' };
            let mut members = Vec::new();
            let mut elems = Vec::new();
            sc.skip_ws();
            if sc.peek() == Some(close) {
                sc.pos += 1;
            } else {
                loop {
                    if open == b'{' {
                        sc.skip_ws();
                        if sc.peek() != Some(b'"') {
                            return Err(sc.unexpected("looking for beginning of object key string"));
                        }
                        let (key, key_start, _) = sc.string()?;
                        sc.skip_ws();
                        if sc.peek() != Some(b':') {
                            return Err(sc.unexpected("after object key"));
                        }
                        sc.pos += 1;
                        let v = node(sc, depth + 1)?;
                        members.push((key.to_string(), key_start, v));
                    } else {
                        elems.push(node(sc, depth + 1)?);
                    }
                    sc.skip_ws();
                    match sc.peek() {
                        Some(b',') => sc.pos += 1,
                        Some(c) if c == close => {
                            sc.pos += 1;
                            break;
                        }
                        _ => return Err(sc.unexpected("after a member")),
                    }
                }
            }
            let kind = if open == b'{' {
                JKind::Obj(members)
            } else {
                JKind::Arr(elems)
            };
            Ok(JNode {
                start,
                end: sc.pos,
                kind,
            })
        }
        Some(_) => {
            let (_, _, s, e) = sc.scalar()?;
            Ok(JNode {
                start: s,
                end: e,
                kind: JKind::Scalar,
            })
        }
        None => Err(sc.err("unexpected end of JSON input")),
    }
}

struct Ctx<'a> {
    src: &'a [u8],
    nl: &'static str,
    unit: String,
}

impl Ctx<'_> {
    fn line_start(&self, pos: usize) -> usize {
        self.src[..pos]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
    }

    /// The blank run that starts the line holding `pos`.
    fn indent_of(&self, pos: usize) -> String {
        let ls = self.line_start(pos);
        let n = self.src[ls..pos]
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        String::from_utf8_lossy(&self.src[ls..ls + n]).into_owned()
    }

    fn one_line(&self, n: &JNode) -> bool {
        !self.src[n.start..n.end].contains(&b'\n')
    }

    /// `v` as Go writes it indented, continuation lines prefixed with `base`; on one line with
    /// `compact`.
    fn value(&self, v: &Value, base: &str, compact: bool) -> Result<String, StoreError> {
        let mut out = Vec::new();
        if compact {
            Pretty { unit: "", nl: " " }.value(&mut out, v, 0)?;
        } else {
            Pretty {
                unit: &self.unit,
                nl: "\n",
            }
            .value(&mut out, v, 0)?;
        }
        let s = String::from_utf8_lossy(&out).into_owned();
        Ok(s.replace('\n', &format!("{}{base}", self.nl)))
    }

    fn member(&self, k: &str, v: &Value, base: &str, compact: bool) -> Result<String, StoreError> {
        let mut key = Vec::new();
        push_go_escaped(&mut key, k);
        Ok(format!(
            "{}: {}",
            String::from_utf8_lossy(&key),
            self.value(v, base, compact)?
        ))
    }

    fn replace(&self, n: &JNode, v: &Value, compact: bool) -> Result<Edit, StoreError> {
        let base = self.indent_of(n.start);
        Ok(edit(n.start, n.end, self.value(v, &base, compact)?))
    }

    /// `inline`: `n` sits in a container written on one line.
    fn set_in(
        &self,
        n: &JNode,
        steps: &[Step],
        v: &Value,
        top: bool,
        inline: bool,
    ) -> Result<Option<Edit>, StoreError> {
        let Some((first, rest)) = steps.split_first() else {
            return self.replace(n, v, inline).map(Some);
        };
        let compact = self.one_line(n);
        match (&n.kind, first) {
            (JKind::Obj(members), Step::Key(k)) => {
                if let Some((_, _, val)) = members.iter().find(|(key, _, _)| key == k) {
                    return self.set_in(val, rest, v, false, compact);
                }
                let new = build(rest, v.clone());
                match members.last() {
                    Some((_, key_start, last)) if !compact => {
                        let base = self.indent_of(*key_start);
                        let m = self.member(k, &new, &base, false)?;
                        Ok(Some(edit(
                            last.end,
                            last.end,
                            format!(",{}{base}{m}", self.nl),
                        )))
                    }
                    Some((_, _, last)) => {
                        let m = self.member(k, &new, "", true)?;
                        Ok(Some(edit(last.end, last.end, format!(", {m}"))))
                    }
                    None => {
                        let outer = self.indent_of(n.start);
                        let base = format!("{outer}{}", self.unit);
                        let m = self.member(k, &new, &base, false)?;
                        let nl = self.nl;
                        Ok(Some(edit(
                            n.start + 1,
                            n.end - 1,
                            format!("{nl}{base}{m}{nl}{outer}"),
                        )))
                    }
                }
            }
            (JKind::Arr(elems), Step::Index(i)) => {
                if let Some(e) = elems.get(*i) {
                    return self.set_in(e, rest, v, false, compact);
                }
                let new = build(rest, v.clone());
                match elems.last() {
                    Some(last) if !compact => {
                        let base = self.indent_of(last.start);
                        let t = self.value(&new, &base, false)?;
                        Ok(Some(edit(
                            last.end,
                            last.end,
                            format!(",{}{base}{t}", self.nl),
                        )))
                    }
                    Some(last) => {
                        let t = self.value(&new, "", true)?;
                        Ok(Some(edit(last.end, last.end, format!(", {t}"))))
                    }
                    None => {
                        let outer = self.indent_of(n.start);
                        let base = format!("{outer}{}", self.unit);
                        let t = self.value(&new, &base, false)?;
                        let nl = self.nl;
                        Ok(Some(edit(
                            n.start + 1,
                            n.end - 1,
                            format!("{nl}{base}{t}{nl}{outer}"),
                        )))
                    }
                }
            }
            // sops leaves the tree alone for an index on the top-level object.
            (JKind::Obj(_), Step::Index(_)) if top => Ok(Some(edit(0, 0, String::new()))),
            _ => self.replace(n, &build(steps, v.clone()), inline).map(Some),
        }
    }

    fn unset_in(&self, n: &JNode, steps: &[Step]) -> Option<Edit> {
        let (first, rest) = steps.split_first()?;
        // (start of each entry, end of each entry)
        let (idx, spans, child): (usize, Vec<(usize, usize)>, &JNode) = match (&n.kind, first) {
            (JKind::Obj(members), Step::Key(k)) => {
                let idx = members.iter().position(|(key, _, _)| key == k)?;
                let spans = members.iter().map(|(_, ks, v)| (*ks, v.end)).collect();
                (idx, spans, &members[idx].2)
            }
            (JKind::Arr(elems), Step::Index(i)) => {
                let spans = elems.iter().map(|e| (e.start, e.end)).collect();
                (*i, spans, elems.get(*i)?)
            }
            _ => return None,
        };
        if !rest.is_empty() {
            return self.unset_in(child, rest);
        }
        let (s, e) = spans[idx];
        Some(if spans.len() == 1 {
            edit(n.start + 1, n.end - 1, String::new())
        } else if let Some(&(next, _)) = spans.get(idx + 1) {
            edit(s, next, String::new())
        } else {
            let (_, prev_end) = spans[idx - 1];
            edit(prev_end, e, String::new())
        })
    }
}

fn edit(start: usize, end: usize, text: String) -> Edit {
    Edit {
        start,
        end,
        text: Zeroizing::new(text.into_bytes()),
    }
}

fn with_root(
    layout: &Layout,
    options: &StoreOptions,
    f: impl FnOnce(&Ctx, &JNode) -> Result<Option<Edit>, StoreError>,
) -> Result<Option<Vec<u8>>, StoreError> {
    let src: &[u8] = &layout.src;
    let mut sc = Scanner {
        src,
        pos: layout.open,
        spans: Vec::new(),
    };
    let root = node(&mut sc, 0)?;
    let unit = match options.indent {
        Some(_) => indent_unit(options.indent)?,
        None => detect_indent(layout).unwrap_or_else(|| "\t".to_string()),
    };
    let ctx = Ctx {
        src,
        nl: if uses_crlf(src) { "\r\n" } else { "\n" },
        unit,
    };
    match f(&ctx, &root)? {
        Some(e) => Ok(Some(into_vec(apply_edits(src, &mut [e])?))),
        None => Ok(None),
    }
}

pub(crate) fn set_at(
    layout: &Layout,
    steps: &[Step],
    value: &Value,
    options: &StoreOptions,
) -> Result<Option<Vec<u8>>, StoreError> {
    with_root(layout, options, |ctx, root| {
        ctx.set_in(root, steps, value, true, false)
    })
}

pub(crate) fn unset_at(layout: &Layout, steps: &[Step]) -> Result<Option<Vec<u8>>, StoreError> {
    with_root(layout, &StoreOptions::default(), |ctx, root| {
        Ok(ctx.unset_in(root, steps))
    })
}
