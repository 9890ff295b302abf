//! Writing a whole tree from scratch with go-yaml v3's block layout, as sops prints it (files
//! without a source to splice into, `decrypt --extract` of a non-string value).

use super::scalar_text::{chomp, double_quoted, inline_scalar, literal_body};
use super::style::{pick_style, Style};
use crate::stores::{StoreError, StoreOptions};
use crate::tree::{Doc, Item, Scalar, Tree, Value};

/// Write a whole tree as sops (go-yaml v3) lays it out.
pub fn emit(
    tree: &Tree,
    metadata: Option<&Value>,
    options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    let indent = indent_from(options.indent)?.unwrap_or(4);
    let mut out = String::new();
    let docs: Vec<&Doc> = tree.docs.iter().collect();
    let empty = Doc::default();
    let docs = if docs.is_empty() { vec![&empty] } else { docs };
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        let mut items = d.items.clone();
        if let Some(m) = metadata {
            items.push(Item::pair("sops", m.clone()));
        }
        let mut em = Emitter::new(indent);
        em.map(&items, 0, false);
        if items.iter().all(|i| matches!(i, Item::Comment(_))) {
            em.out.push_str("{}\n");
        }
        out.push_str(&em.out);
    }
    Ok(out.into_bytes())
}

/// Write one value as `sops decrypt --extract` prints a non-string value.
pub fn emit_value(value: &Value, options: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    let indent = indent_from(options.indent)?.unwrap_or(4);
    let mut em = Emitter::new(indent);
    match value {
        Value::Map(items) if items.iter().any(|i| !matches!(i, Item::Comment(_))) => {
            em.map(items, 0, false)
        }
        Value::List(items) if items.iter().any(|i| !matches!(i, Item::Comment(_))) => {
            em.seq(items, 0, false)
        }
        Value::Map(_) => em.out.push_str("{}\n"),
        Value::List(_) => em.out.push_str("[]\n"),
        Value::Leaf(l) => match &l.value {
            Scalar::Str(s) if pick_style(s, Style::Plain, false, false) == Style::Literal => {
                let hint = if s.starts_with(' ') || s.starts_with('\n') {
                    indent.to_string()
                } else {
                    String::new()
                };
                em.out.push('|');
                em.out.push_str(&hint);
                em.out.push_str(chomp(s));
                em.out.push('\n');
                em.out.push_str(&literal_body(s, indent, "\n"));
                if !s.ends_with('\n') {
                    em.out.push('\n');
                }
            }
            v => {
                em.out
                    .push_str(&inline_scalar(v, false, false).unwrap_or_default());
                em.out.push('\n');
            }
        },
    }
    Ok(em.out.into_bytes())
}

/// Block emitter state: the text so far and the indentation step.
pub(super) struct Emitter {
    pub(super) out: String,
    best: usize,
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
    pub(super) fn new(best: usize) -> Self {
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
            let st = pick_style(t, Style::Plain, false, false);
            if st == Style::Literal {
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
    pub(super) fn map(&mut self, items: &[Item], col: usize, inline: bool) {
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
    pub(super) fn value_after(&mut self, value: &Value, col: usize, in_seq: bool) {
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
    pub(super) fn seq(&mut self, items: &[Item], col: usize, inline: bool) {
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
pub(super) fn indent_from(opt: Option<i64>) -> Result<Option<usize>, StoreError> {
    match opt {
        None => Ok(None),
        Some(n) if n < 0 => Err(StoreError::new("YAML Negative indentation not accepted")),
        Some(0) => Ok(Some(4)),
        Some(n) if (2..=9).contains(&n) => Ok(Some(n as usize)),
        Some(_) => Ok(Some(2)),
    }
}
