//! The read-back of a plaintext splice compared event by event.
//!
//! `decrypt` (and the layout record's check) must know that the bytes it spliced read back as the
//! data. The full reading builds the raw nodes, the converted tree with every leaf's span, and the
//! comments' places, only to compare the tree and free it all: most of a large YAML decryption's
//! read-back. Here the parser's events are compared with the expected tree as they come, typed
//! by the same function, with nothing built.
//!
//! This comparison only ever confirms. It gives up (and the caller reads the bytes in full) on
//! anything it leaves to the full reading: aliases (an anchor alone changes nothing the full
//! reading gives: it is skipped), tags, a stream without documents, a document whose root is
//! not a map, a key that is not a string, a parse error, an expected document without data, a
//! `sops` entry, or any difference. So it never accepts what the full
//! reading would refuse: every key and value it accepts is one the full reading gives the same
//! way, and the documents, keys and values are compared one for one in order, as
//! [`crate::stores::same_as_changed`] does. (The expected tree is a parsed one, so its keys are
//! unique, and so are those matched with them.)

use std::borrow::Cow;

use granit_parser::{Event, ScalarStyle};
use zeroize::Zeroize;

use super::events::{drop_added_break, EventSpan, MAX_NODES};
use super::feed::{with_events, Threads};
use super::node::CoreTag;
use super::parse::decode;
use super::typing::{reads_as_str, type_scalar};
use crate::stores::changed::{changed_str, is_comment, same_leaf};
use crate::stores::Changes;
use crate::tree::{Item, Leaf, Tree, Value};

/// Whether `src` certainly reads as `tree` with `changes` applied (`false`: not known here). A
/// large source's events are read on a second thread (this runs while the other core is idle).
pub(super) fn confirms(src: &[u8], tree: &Tree, changes: &Changes) -> bool {
    confirms_on(src, tree, changes, Threads::Two)
}

fn confirms_on(src: &[u8], tree: &Tree, changes: &Changes, threads: Threads) -> bool {
    let Ok((_, text)) = decode(src) else {
        return false;
    };
    with_events(text, threads, |events| {
        let mut reader = Reader {
            events,
            text,
            changes,
            count: 0,
        };
        reader.stream(tree).is_some()
    })
}

/// Reads events and compares them with the expected tree; each step gives `None` when it gives up.
struct Reader<'t, 'c, I> {
    events: I,
    text: &'t str,
    changes: &'c Changes,
    count: usize,
}

impl<'t, I> Reader<'t, '_, I>
where
    I: Iterator<Item = super::feed::Item<'t>>,
{
    /// The next event that is not a comment or an anchor's (which comes after its node's).
    fn next(&mut self) -> Option<(Event<'t>, EventSpan)> {
        loop {
            let (event, span) = self.events.next()?.ok()?;
            self.count += 1;
            if self.count >= MAX_NODES {
                return None;
            }
            if !matches!(event, Event::Comment(..) | Event::Anchor(..)) {
                return Some((event, span));
            }
        }
    }

    fn stream(&mut self, tree: &Tree) -> Option<()> {
        // Without any document, the full reading makes one of the comments a stream may hold
        // (which this one skips): left to it.
        if tree.docs.is_empty() {
            return None;
        }
        matches!(self.next()?.0, Event::StreamStart).then_some(())?;
        for doc in &tree.docs {
            // A document without data (only comments, or nothing) is left to the full reading.
            if doc.items.iter().all(|i| is_comment(i, self.changes)) {
                return None;
            }
            matches!(self.next()?.0, Event::DocumentStart(..)).then_some(())?;
            match self.next()?.0 {
                Event::MappingStart(_, 0, None) => self.map(&doc.items, true)?,
                _ => return None,
            }
            matches!(self.next()?.0, Event::DocumentEnd).then_some(())?;
        }
        matches!(self.next()?.0, Event::StreamEnd).then_some(())?;
        self.events.next().is_none().then_some(())
    }

    /// The entries of a map whose start event was read, against `items`. A document's `root` map
    /// may hold a `sops` entry, which the full reading takes out: left to it.
    fn map(&mut self, items: &[Item], root: bool) -> Option<()> {
        let mut expected = items.iter().filter(|i| !is_comment(i, self.changes));
        loop {
            let (event, key_span) = self.next()?;
            let (mut key, style) = match event {
                Event::MappingEnd => return expected.next().is_none().then_some(()),
                Event::Scalar(key, style, 0, None) if !(root && key == "sops") => (key, style),
                _ => return None,
            };
            let Some(Item::Pair { key: want, value }) = expected.next() else {
                return None;
            };
            // Keys are typed as the full reading types them: only a string key is one.
            drop_added_break(&mut key, style, self.text, key_span.range());
            if key != want.as_str() || !reads_as_str(&key, style) {
                return None;
            }
            let (event, span) = self.next()?;
            self.value(event, &span, value)?;
        }
    }

    /// The elements of a list whose start event was read, against `items`.
    fn seq(&mut self, items: &[Item]) -> Option<()> {
        let mut expected = items.iter().filter(|i| !is_comment(i, self.changes));
        loop {
            let (event, span) = self.next()?;
            if matches!(event, Event::SequenceEnd) {
                return expected.next().is_none().then_some(());
            }
            let Some(Item::Elem(value)) = expected.next() else {
                return None;
            };
            self.value(event, &span, value)?;
        }
    }

    /// A node (its first event `event`) against the expected `value`.
    fn value(&mut self, event: Event<'t>, span: &EventSpan, value: &Value) -> Option<()> {
        match (event, value) {
            // Any anchor id: an anchored node reads as it would without one.
            (Event::Scalar(mut text, style, _, None), Value::Leaf(leaf)) => {
                drop_added_break(&mut text, style, self.text, span.range());
                let same = match changed_str(leaf, self.changes) {
                    // A string is compared where it is (typed as `type_scalar` types it).
                    Some(want) => text == want && reads_as_str(&text, style),
                    None => self.typed_same(&text, style, leaf),
                };
                // An unescaped copy of a decrypted value is wiped.
                if let Cow::Owned(s) = &mut text {
                    s.zeroize();
                }
                same.then_some(())
            }
            (Event::MappingStart(_, _, None), Value::Map(items)) => self.map(items, false),
            (Event::SequenceStart(_, _, None), Value::List(items)) => self.seq(items),
            _ => None,
        }
    }

    /// A scalar that is not expected to be a string, typed and compared with `leaf` as changed.
    fn typed_same(&self, text: &str, style: ScalarStyle, leaf: &Leaf) -> bool {
        type_scalar(text, style, &CoreTag::NONE, || 0)
            .ok()
            .is_some_and(|(read, mut spelling)| {
                let same = same_leaf(&read, leaf, self.changes);
                // The spelling of a decrypted number or boolean is wiped too (the
                // typed value itself is a `Secret` for strings).
                if let Some(s) = spelling.as_mut() {
                    s.zeroize();
                }
                same
            })
    }
}

#[cfg(test)]
mod tests {
    use super::super::YamlStore;
    use super::*;
    use crate::stores::{Format, NewLeaf, Store};
    use crate::tree::{for_each_leaf, secret, Scalar};

    fn tree_of(text: &str) -> Tree {
        Store::new(Format::Yaml, Default::default())
            .parse(text.as_bytes())
            .expect("parses")
            .tree
    }

    /// The full reading's answer.
    fn in_full(src: &str, tree: &Tree, changes: &Changes) -> bool {
        crate::stores::reads_in_full_as_changed(&YamlStore, src.as_bytes(), tree, changes)
    }

    const USUAL: &[&str] = &[
        "a: 1\nb: two\n",
        "# top\na: x # c\nl:\n  # in list\n  - 1\n  - .nan\n  - [p, q]\nm: {k: v}\n",
        "a:\n  b:\n    c: 'quoted'\n    d: \"esc\\u00e9\\n\"\n  e: [1, 2.5, ~, true]\n",
        "s: |\n  line one\n  line two\nf: >-\n  folded\n  text\n",
        "last: |\n  no break at the end",
        "one: 1\n---\ntwo: 2\n...\n---\nthree: [3]\n",
        "{a: 1, b: [x, y]}\n",
        "k: 0x1F\nt: 2001-12-14t21:59:43.10-05:00\nn: null\ne: ''\nempty:\n",
        "list:\n- a\n- - nested\n  - more\n- k: v\n  j: w\n",
        "a: &x 1\nb: &y\n  k: v\nc: &z\n- 1\nd: &w\ne: &v [p, q]\n",
    ];

    #[test]
    fn confirms_what_reads_back() {
        for text in USUAL {
            let tree = tree_of(text);
            assert!(confirms(text.as_bytes(), &tree, &Vec::new()), "{text}");
            assert!(in_full(text, &tree, &Vec::new()), "{text}");
        }
    }

    #[test]
    fn confirms_changed_values() {
        let text = "a: x\nb:\n  - 1\n  - true\nc: {d: 2.5}\n";
        let tree = tree_of(text);
        let mut changes: Vec<Option<NewLeaf>> = Vec::new();
        let mut n = 0;
        for d in &tree.docs {
            for_each_leaf(&d.items, &mut |l| n = n.max(l.id + 1));
        }
        changes.resize_with(n, || None);
        changes[0] = Some(NewLeaf::Encrypted("ENC[x]".into()));
        let out = "a: ENC[x]\nb:\n  - 1\n  - true\nc: {d: 2.5}\n";
        assert!(confirms(out.as_bytes(), &tree, &changes));
        assert!(in_full(out, &tree, &changes));
        changes[0] = Some(NewLeaf::Plain {
            value: Scalar::Int(7),
            text: secret("7"),
        });
        assert!(confirms(
            b"a: 7\nb: [1, true]\nc:\n  d: 2.5\n",
            &tree,
            &changes
        ));
        assert!(!confirms(
            b"a: '7'\nb: [1, true]\nc:\n  d: 2.5\n",
            &tree,
            &changes
        ));
    }

    #[test]
    fn never_confirms_a_difference() {
        let tree = tree_of("a: 1\nb:\n  c: x\n  d: [1, 2]\n");
        for other in [
            "a: 2\nb:\n  c: x\n  d: [1, 2]\n",
            "a: '1'\nb:\n  c: x\n  d: [1, 2]\n",
            "b:\n  c: x\n  d: [1, 2]\na: 1\n",
            "a: 1\nb:\n  c: x\n  d: [1, 2]\n  e: 3\n",
            "a: 1\nb:\n  c: x\n  d: [1]\n",
            "a: 1\nb:\n  c: x\n  d: [1, 2, 3]\n",
            "a: 1\nb:\n  c: x\n  d: {1: 2}\n",
            "a: 1\nb:\n  c: x\n  d: [1, 2]\n---\nz: 1\n",
            "a: 1\nb:\n  c: x\n  d: [1, 2]\n  d: [1, 2]\n",
            "a: 1\nb:\n  c: [x\n",
            "a: &x 2\nb:\n  c: x\n  d: [1, 2]\n",
            "a: 1\nb: &x\n  c: y\n  d: [1, 2]\n",
            "a: 1\nb:\n  c: x\n  d: &x [1, 3]\n",
            "a: &x 1\nb:\n  c: *x\n  d: [1, 2]\n",
        ] {
            assert!(!confirms(other.as_bytes(), &tree, &Vec::new()), "{other}");
            assert!(!in_full(other, &tree, &Vec::new()), "{other}");
        }
    }

    /// What the full reading handles differently from a plain tree is left to it.
    #[test]
    fn leaves_the_rest_to_the_full_reading() {
        for (expected, read) in [
            ("a: &x 1\nb: *x\n", "a: &x 1\nb: *x\n"),
            ("a: &x 1\nb: 1\n", "a: &x 1\nb: *x\n"),
            ("base: &b {k: v}\nc: *b\n", "base: &b {k: v}\nc: *b\n"),
            ("a: !!str 1\n", "a: !!str 1\n"),
            ("a: !custom x\n", "a: !custom x\n"),
            ("a: 2\n", "sops: 1\na: 2\n"),
            ("# only a comment\n", "# only a comment\n"),
            ("'1': one\n", "1: one\n"),
            ("a: 1\n", "- a\n"),
            ("", "# only a comment\n"),
        ] {
            let tree = tree_of(expected);
            assert!(!confirms(read.as_bytes(), &tree, &Vec::new()), "{read}");
        }
    }

    /// Read on a second thread, the comparison gives up where it does on one: at the first
    /// difference, many batches in, or at the end.
    #[test]
    fn gives_up_alike_when_read_beside() {
        let mut text = String::new();
        for i in 0..5000 {
            text.push_str(&format!("k{i}:\n  a: x{i}\n  b: [1, 2]\n"));
        }
        let tree = tree_of(&text);
        for (at, other) in [(0, "z"), (4000, "z"), (4999, "z"), (4999, "x4999")] {
            let changed = text.replacen(&format!("a: x{at}\n"), &format!("a: {other}\n"), 1);
            let want = changed == text;
            for threads in [Threads::One, Threads::TwoAlways] {
                let got = confirms_on(changed.as_bytes(), &tree, &Vec::new(), threads);
                assert_eq!(got, want, "{at} {other} {threads:?}");
            }
        }
    }

    /// Every YAML file of the corpus: the comparison never confirms what the full reading
    /// refuses, and confirms most files (so that the fast path is the one taken).
    #[test]
    fn agrees_with_the_full_reading_on_the_corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/plain/yaml");
        let (mut files, mut confirmed) = (0, 0);
        for entry in std::fs::read_dir(dir).expect("corpus") {
            let bytes = std::fs::read(entry.expect("entry").path()).expect("file");
            let Ok(parsed) = Store::new(Format::Yaml, Default::default()).parse(&bytes) else {
                continue;
            };
            files += 1;
            let fast = confirms(&bytes, &parsed.tree, &Vec::new());
            let full = crate::stores::reads_in_full_as_changed(
                &YamlStore,
                &bytes,
                &parsed.tree,
                &Vec::new(),
            );
            assert!(!fast || full, "confirmed what the full reading refuses");
            confirmed += usize::from(fast);
            let beside = confirms_on(&bytes, &parsed.tree, &Vec::new(), Threads::TwoAlways);
            assert_eq!(fast, beside, "read on a second thread");
            // Given up early (another tree expected): the reading beside is stopped.
            let none = Tree { docs: Vec::new() };
            assert!(!confirms_on(&bytes, &none, &Vec::new(), Threads::TwoAlways));
        }
        eprintln!("YAML corpus: {confirmed} of {files} read-backs confirmed event by event");
        assert!(files > 100, "{files} files");
        assert!(confirmed * 2 > files, "{confirmed} of {files} confirmed");
    }
}
