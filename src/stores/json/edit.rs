//! `set` and `unset` as text edits of a plaintext JSON file: new members and elements go after the
//! last of their container with its indentation, replaced values are re-emitted in their span (Go's
//! indented layout at the line's indentation), removed members take their comma along.

use super::scanner::{Builder, ScalarToken, Scanner, Text};
use super::splice::indent_unit_in;
use super::Layout;
use crate::stores::gojson::{push_go_string, GoJsonWriter};
use crate::stores::text::{apply_edits, into_vec, line_break_of, Edit};
use crate::stores::{StoreError, StoreOptions};
use crate::tree::Value;
use crate::treepath::{build, Step};

/// A value of the file and the byte range of its text.
struct SyntaxNode {
    start: usize,
    end: usize,
    kind: SyntaxKind,
}

enum SyntaxKind {
    Object(Vec<MemberNode>),
    Array(Vec<SyntaxNode>),
    Scalar,
}

struct MemberNode {
    key: String,
    key_start: usize,
    value: SyntaxNode,
}

/// Builds the file's tree of [`SyntaxNode`]s.
struct SyntaxBuilder;

impl Builder for SyntaxBuilder {
    type Node = SyntaxNode;
    type Object = Vec<MemberNode>;
    type Array = Vec<SyntaxNode>;

    fn leaf(&mut self, token: ScalarToken) -> SyntaxNode {
        SyntaxNode {
            start: token.start,
            end: token.end,
            kind: SyntaxKind::Scalar,
        }
    }

    fn leaf_text(&mut self, _: Text<'_>, start: usize, end: usize) -> SyntaxNode {
        SyntaxNode {
            start,
            end,
            kind: SyntaxKind::Scalar,
        }
    }

    fn member(
        &mut self,
        object: &mut Vec<MemberNode>,
        key: Text<'_>,
        key_start: usize,
        value: SyntaxNode,
    ) {
        object.push(MemberNode {
            key: key.into_string(),
            key_start,
            value,
        });
    }

    fn element(&mut self, array: &mut Vec<SyntaxNode>, value: SyntaxNode) {
        array.push(value);
    }

    fn object(&mut self, object: Vec<MemberNode>, start: usize, end: usize) -> SyntaxNode {
        SyntaxNode {
            start,
            end,
            kind: SyntaxKind::Object(object),
        }
    }

    fn array(&mut self, array: Vec<SyntaxNode>, start: usize, end: usize) -> SyntaxNode {
        SyntaxNode {
            start,
            end,
            kind: SyntaxKind::Array(array),
        }
    }
}

/// The file being edited, and how new text is laid out in it.
struct Editor<'a> {
    src: &'a [u8],
    /// The file's line break.
    newline: &'static str,
    /// One level of the file's indentation.
    indent_unit: String,
}

impl Editor<'_> {
    fn line_start(&self, pos: usize) -> usize {
        self.src[..pos]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
    }

    /// The blank run that starts the line holding `pos`.
    fn indent_of(&self, pos: usize) -> String {
        let line_start = self.line_start(pos);
        let blanks = self.src[line_start..pos]
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        String::from_utf8_lossy(&self.src[line_start..line_start + blanks]).into_owned()
    }

    fn one_line(&self, node: &SyntaxNode) -> bool {
        !self.src[node.start..node.end].contains(&b'\n')
    }

    /// `value` as Go writes it indented, continuation lines prefixed with `base`; on one line
    /// with `compact`.
    fn value(&self, value: &Value, base: &str, compact: bool) -> Result<String, StoreError> {
        let mut out = Vec::new();
        if compact {
            GoJsonWriter {
                indent_unit: "",
                newline: " ",
            }
            .value(&mut out, value, 0)?;
        } else {
            GoJsonWriter {
                indent_unit: &self.indent_unit,
                newline: "\n",
            }
            .value(&mut out, value, 0)?;
        }
        let text = String::from_utf8_lossy(&out).into_owned();
        Ok(text.replace('\n', &format!("{}{base}", self.newline)))
    }

    fn member(
        &self,
        key: &str,
        value: &Value,
        base: &str,
        compact: bool,
    ) -> Result<String, StoreError> {
        let mut quoted_key = Vec::new();
        push_go_string(&mut quoted_key, key);
        Ok(format!(
            "{}: {}",
            String::from_utf8_lossy(&quoted_key),
            self.value(value, base, compact)?
        ))
    }

    fn replace(&self, node: &SyntaxNode, value: &Value, compact: bool) -> Result<Edit, StoreError> {
        let base = self.indent_of(node.start);
        Ok(Edit::replace(
            node.start,
            node.end,
            self.value(value, &base, compact)?,
        ))
    }

    /// The edit setting `steps` under `node` to `value`. `top`: `node` is the top-level object;
    /// `inline`: `node` sits in a container written on one line.
    fn set_in(
        &self,
        node: &SyntaxNode,
        steps: &[Step],
        value: &Value,
        top: bool,
        inline: bool,
    ) -> Result<Option<Edit>, StoreError> {
        let Some((first, rest)) = steps.split_first() else {
            return self.replace(node, value, inline).map(Some);
        };
        let compact = self.one_line(node);
        let newline = self.newline;
        match (&node.kind, first) {
            (SyntaxKind::Object(members), Step::Key(key)) => {
                if let Some(member) = members.iter().find(|m| &m.key == key) {
                    return self.set_in(&member.value, rest, value, false, compact);
                }
                let new = build(rest, value.clone());
                match members.last() {
                    Some(last) if !compact => {
                        let base = self.indent_of(last.key_start);
                        let text = self.member(key, &new, &base, false)?;
                        let at = last.value.end;
                        Ok(Some(Edit::replace(
                            at,
                            at,
                            format!(",{newline}{base}{text}"),
                        )))
                    }
                    Some(last) => {
                        let text = self.member(key, &new, "", true)?;
                        let at = last.value.end;
                        Ok(Some(Edit::replace(at, at, format!(", {text}"))))
                    }
                    None => {
                        let outer = self.indent_of(node.start);
                        let base = format!("{outer}{}", self.indent_unit);
                        let text = self.member(key, &new, &base, false)?;
                        Ok(Some(Edit::replace(
                            node.start + 1,
                            node.end - 1,
                            format!("{newline}{base}{text}{newline}{outer}"),
                        )))
                    }
                }
            }
            (SyntaxKind::Array(elements), Step::Index(i)) => {
                if let Some(element) = elements.get(*i) {
                    return self.set_in(element, rest, value, false, compact);
                }
                let new = build(rest, value.clone());
                match elements.last() {
                    Some(last) if !compact => {
                        let base = self.indent_of(last.start);
                        let text = self.value(&new, &base, false)?;
                        Ok(Some(Edit::replace(
                            last.end,
                            last.end,
                            format!(",{newline}{base}{text}"),
                        )))
                    }
                    Some(last) => {
                        let text = self.value(&new, "", true)?;
                        Ok(Some(Edit::replace(last.end, last.end, format!(", {text}"))))
                    }
                    None => {
                        let outer = self.indent_of(node.start);
                        let base = format!("{outer}{}", self.indent_unit);
                        let text = self.value(&new, &base, false)?;
                        Ok(Some(Edit::replace(
                            node.start + 1,
                            node.end - 1,
                            format!("{newline}{base}{text}{newline}{outer}"),
                        )))
                    }
                }
            }
            // sops leaves the tree alone for an index on the top-level object.
            (SyntaxKind::Object(_), Step::Index(_)) if top => Ok(Some(Edit::delete(0, 0))),
            _ => self
                .replace(node, &build(steps, value.clone()), inline)
                .map(Some),
        }
    }

    /// The edit removing what `steps` leads to under `node`, with its separator.
    fn unset_in(&self, node: &SyntaxNode, steps: &[Step]) -> Option<Edit> {
        let (first, rest) = steps.split_first()?;
        // (start of each entry, end of each entry)
        let (index, spans, child): (usize, Vec<(usize, usize)>, &SyntaxNode) =
            match (&node.kind, first) {
                (SyntaxKind::Object(members), Step::Key(key)) => {
                    let index = members.iter().position(|m| &m.key == key)?;
                    let spans = members.iter().map(|m| (m.key_start, m.value.end)).collect();
                    (index, spans, &members[index].value)
                }
                (SyntaxKind::Array(elements), Step::Index(i)) => {
                    let spans = elements.iter().map(|e| (e.start, e.end)).collect();
                    (*i, spans, elements.get(*i)?)
                }
                _ => return None,
            };
        if !rest.is_empty() {
            return self.unset_in(child, rest);
        }
        let (start, end) = spans[index];
        Some(if spans.len() == 1 {
            Edit::delete(node.start + 1, node.end - 1)
        } else if let Some(&(next, _)) = spans.get(index + 1) {
            Edit::delete(start, next)
        } else {
            let (_, previous_end) = spans[index - 1];
            Edit::delete(previous_end, end)
        })
    }
}

/// Scan the file's top-level object again as spans, and apply the edit `make_edit` gives.
fn edit_root(
    layout: &Layout,
    options: &StoreOptions,
    make_edit: impl FnOnce(&Editor, &SyntaxNode) -> Result<Option<Edit>, StoreError>,
) -> Result<Option<Vec<u8>>, StoreError> {
    let src: &[u8] = &layout.src;
    // The bytes parsed before: this scan does not fail.
    let root = Scanner::new(src, layout.open_brace).value(&mut SyntaxBuilder, 0)?;
    let editor = Editor {
        src,
        newline: line_break_of(src),
        indent_unit: indent_unit_in(layout, src, options)?,
    };
    match make_edit(&editor, &root)? {
        Some(edit) => Ok(Some(into_vec(apply_edits(src, &mut [edit])?))),
        None => Ok(None),
    }
}

pub(crate) fn set_at(
    layout: &Layout,
    steps: &[Step],
    value: &Value,
    options: &StoreOptions,
) -> Result<Option<Vec<u8>>, StoreError> {
    edit_root(layout, options, |editor, root| {
        editor.set_in(root, steps, value, true, false)
    })
}

pub(crate) fn unset_at(layout: &Layout, steps: &[Step]) -> Result<Option<Vec<u8>>, StoreError> {
    edit_root(layout, &StoreOptions::default(), |editor, root| {
        Ok(editor.unset_in(root, steps))
    })
}
