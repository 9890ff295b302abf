//! What the YAML store remembers of a parsed source so that it can be rewritten in place: the
//! span and form of every leaf, the expanded aliases, and where each document's `sops` entry is
//! or would go.

use super::style::Style;
use crate::filebytes::FileBytes;
use crate::tree::LeafId;

/// Store-private memory of the source: leaf spans and document structure.
pub struct Layout {
    pub(super) src: FileBytes,
    /// Indexed by leaf id.
    pub(super) spans: Vec<LeafSpan>,
    pub(super) aliases: Vec<AliasRender>,
    pub(super) docs: Vec<DocLayout>,
    /// The data's plain `ENC[...]` scalars were left here (`parse::parse_owned_lending`), or in
    /// the bytes the reading was made from (`parse::parse_lent_lending`): each is an empty string
    /// in the tree, its text the source's at its span.
    pub(super) lent: bool,
    pub(super) crlf: bool,
    /// The indentation step the source uses.
    pub(super) indent: usize,
}

impl Layout {
    /// The bytes the file was parsed from.
    pub(crate) fn source(&self) -> Option<&[u8]> {
        Some(&self.src)
    }

    /// Whether the reading left the data's `ENC[...]` values in the source.
    pub(crate) fn lends(&self) -> bool {
        self.lent
    }

    /// The text of the leaf `id` when the reading left it in the source.
    pub(crate) fn lent_token(&self, id: usize) -> Option<&str> {
        self.lent_token_in(id, &self.src)
    }

    /// [`Layout::lent_token`] read from `src`, the bytes the reading was made from (by a reading
    /// that keeps none).
    pub(crate) fn lent_token_in<'s>(&self, id: usize, src: &'s [u8]) -> Option<&'s str> {
        match self.spans.get(id).filter(|_| self.lent)? {
            LeafSpan::Scalar(sc) if sc.style == Style::Plain && sc.block.is_none() => {
                let text = std::str::from_utf8(src.get(sc.start..sc.end)?).ok()?;
                crate::stores::lent::lends(text).then_some(text)
            }
            _ => None,
        }
    }
}

/// Where one leaf sits in the source.
#[derive(Clone, Debug)]
pub(super) enum LeafSpan {
    Scalar(ScalarSpan),
    Comment {
        start: usize,
        end: usize,
    },
    /// A leaf of an expanded alias of a collection: written by its [`AliasRender`].
    InAlias,
}

impl LeafSpan {
    /// The span with every offset moved `base` bytes on (past a byte order mark).
    pub(super) fn shifted(self, base: usize) -> LeafSpan {
        if base == 0 {
            return self;
        }
        match self {
            LeafSpan::Comment { start, end } => LeafSpan::Comment {
                start: start + base,
                end: end + base,
            },
            LeafSpan::InAlias => LeafSpan::InAlias,
            LeafSpan::Scalar(mut sc) => {
                sc.start += base;
                sc.end += base;
                sc.tag_start = sc.tag_start.map(|t| t + base);
                sc.dash = sc.dash.map(|d| d + base);
                if let Some(b) = sc.block.as_mut() {
                    b.header_start += base;
                    b.header_end += base;
                    b.content_start += base;
                    b.content_end += base;
                    b.span_end += base;
                }
                LeafSpan::Scalar(sc)
            }
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct ScalarSpan {
    /// Token range (quotes included; for block scalars, see `block`).
    pub(super) start: usize,
    pub(super) end: usize,
    /// Start of the node's tag, when it has one before the token (removed when rewritten).
    pub(super) tag_start: Option<usize>,
    pub(super) style: Style,
    pub(super) flow: bool,
    /// Indentation of the owning map (its key column) or sequence (its dash column).
    pub(super) owner_col: usize,
    /// The dash, when the scalar is directly an element of a block sequence.
    pub(super) dash: Option<usize>,
    /// Boxed: block scalars are rare, and every leaf's span is kept until the output is written.
    pub(super) block: Option<Box<BlockSpan>>,
    /// The node is tagged `!!str`. On an `ENC[...]` token (only sepal writes it) it marks a
    /// string to write back as it was, not as go-yaml would (see
    /// [`super::writer::Writer::write_plain`]).
    pub(super) str_tag: bool,
    /// The token is an `ENC[...]` string: a new ciphertext keeps its form (style and tag).
    pub(super) is_enc: bool,
    /// A plain string that go-yaml would quote but that reads back the same plain (`yes`,
    /// `1:20`, `🔑`): its ciphertext gets the `!!str` mark. Always false on an `ENC[...]`
    /// token (`is_enc`), whose new ciphertext keeps the token's form.
    pub(super) keep_plain: bool,
}

impl ScalarSpan {
    /// Where the token starts, its tag included.
    pub(super) fn token_start(&self) -> usize {
        self.tag_start.unwrap_or(self.start).min(self.start)
    }
}

#[derive(Clone, Debug)]
pub(super) struct BlockSpan {
    pub(super) header_start: usize,
    pub(super) header_end: usize,
    /// Start of the line after the header.
    pub(super) content_start: usize,
    /// End of the last non-blank content line (its line break excluded).
    pub(super) content_end: usize,
    /// End of the scanner's span (trailing blank lines included).
    pub(super) span_end: usize,
    pub(super) content_col: usize,
    /// Blank lines after the last content line's break, up to `span_end`.
    pub(super) trailing_blanks: usize,
    /// Whether there is a non-blank content line (else `content_end == content_start`).
    pub(super) has_content: bool,
    /// The header has go-yaml's indentation indicator (its indentation step, where the content
    /// sits elsewhere) for a string go-yaml writes that way: encrypted as an inline token, so
    /// that decrypting writes it as go-yaml does again.
    pub(super) goyaml: bool,
}

/// The shape of an expanded alias of a collection, its leaves by id.
#[derive(Clone, Debug)]
pub(super) enum AliasTemplate {
    Map(Vec<(String, AliasTemplate)>),
    Seq(Vec<AliasTemplate>),
    Leaf(LeafId),
}

impl AliasTemplate {
    /// Whether `changes` changes any leaf of the alias.
    pub(super) fn any_changed(&self, changes: &crate::tree::Changes) -> bool {
        match self {
            AliasTemplate::Map(entries) => entries.iter().any(|(_, v)| v.any_changed(changes)),
            AliasTemplate::Seq(elems) => elems.iter().any(|v| v.any_changed(changes)),
            AliasTemplate::Leaf(id) => changes.get(*id).is_some_and(|c| c.is_some()),
        }
    }
}

/// An alias of a collection in the source (`*name`): rewritten in flow style when its leaves
/// change.
#[derive(Clone, Debug)]
pub(super) struct AliasRender {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) template: AliasTemplate,
}

/// The `sops` entry of a document: the bytes to replace when it is rewritten or removed.
#[derive(Clone, Copy, Debug)]
pub(super) struct SopsSpan {
    pub(super) start: usize,
    pub(super) end: usize,
    /// The replacement starts with a line break.
    pub(super) lead_nl: bool,
    /// The replacement ends with a line break.
    pub(super) trail_nl: bool,
}

impl SopsSpan {
    /// The span moved `base` bytes on (past a byte order mark).
    pub(super) fn shifted(self, base: usize) -> SopsSpan {
        SopsSpan {
            start: self.start + base,
            end: self.end + base,
            ..self
        }
    }
}

/// A top-level flow mapping.
#[derive(Clone, Copy, Debug)]
pub(super) struct FlowRoot {
    /// Position of its `}`.
    pub(super) close: usize,
    pub(super) has_entries: bool,
}

#[derive(Clone, Debug, Default)]
pub(super) struct DocLayout {
    pub(super) sops: Option<SopsSpan>,
    /// Where to insert a new `sops` entry (a line start, or EOF).
    pub(super) insert_at: usize,
    pub(super) insert_lead_nl: bool,
    pub(super) flow_root: Option<FlowRoot>,
    /// Whether the sops entry sits in a flow root (then it's written in flow style).
    pub(super) sops_in_flow: bool,
    /// Where the document ends: the start of its `...` or of the next document's `---`, or the
    /// end of the stream.
    pub(super) end: usize,
}
