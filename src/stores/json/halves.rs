//! A large JSON file's top-level object read in two halves at once, the second on another
//! thread: the reading of a command's input is otherwise a stretch of a run with one core busy
//! (docs/performance.md, eighth round).
//!
//! The second half starts at a guess: the first `,` after the middle that the blanks before the
//! object's first key follow, then a `"`. A file written indented repeats those blanks before each
//! of its top-level keys only (deeper keys are indented further, and a string holds no raw line
//! break). The guess is used only once the first half, read from the start, has met that very
//! `,` between two top-level members. Anything else (no line break before the first key, no such
//! `,`, an error in either half, a `sops` member in both) is read again from the start on one
//! thread, which gives what it always gave; the tests compare the two readings.

use super::parse::{Top, TopObject};
use super::scanner::{is_blank, Scanner};
use super::Layout;
use crate::tree::{Item, Value, NO_LEAF};

/// The top-level object whose `{` is at `open_brace`, read in two halves, or `None` when it is to
/// be read on one thread.
/// `lend` as in [`super::parse::parse_top_borrowed`].
pub(super) fn read_in_halves(
    scanner: &Scanner,
    open_brace: usize,
    lend: bool,
) -> Option<TopObject> {
    read_in_halves_from(scanner, open_brace, HALVES_FROM, lend)
}

/// A JSON source from this size on is read in halves: below the YAML reading's
/// [`crate::stores::TWO_THREADS_FROM`], since a JSON half starts at once where YAML's second
/// thread hands over events in batches. Once the second thread started on the other processor
/// (`crate::threads`), the 10,000-value file's encryption (a 374 KB input) took 13.40 ms instead
/// of 13.82 (median of 100, alternated); the YAML reading's events beside at 256 KiB made the
/// 305 KB YAML file's 25.5 ms instead of 23.6 (twenty-third round).
const HALVES_FROM: usize = 256 * 1024;

fn read_in_halves_from(
    scanner: &Scanner,
    open_brace: usize,
    from: usize,
    lend: bool,
) -> Option<TopObject> {
    let src = scanner.src;
    if src.len() < from {
        return None;
    }
    let split = split_at(src, open_brace)?;
    std::thread::scope(|s| {
        let second = crate::threads::spawn_scoped(s, || {
            let mut scanner = scanner.at(split + 1);
            let mut top = Top::new(lend);
            scanner
                .members_on(None, |sc, key, at| top.member(sc, key, at))
                .ok()?;
            top.finish(&mut scanner, open_brace).ok()
        });
        let mut first_scanner = scanner.at(open_brace + 1);
        let mut first = Top::new(lend);
        let stopped =
            first_scanner.members_on(Some(split), |sc, key, at| first.member(sc, key, at));
        let second = second
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match stopped {
            // The guess was no `,` between top-level members: the first half read it all.
            Ok(true) => first.finish(&mut first_scanner, open_brace).ok(),
            Ok(false) => joined(first, second?, open_brace),
            Err(_) => None,
        }
    })
}

/// Where the second half starts: the `,` before a top-level key past the middle.
pub(super) fn split_at(src: &[u8], open_brace: usize) -> Option<usize> {
    let after = open_brace + 1;
    let first_key = after + src.get(after..)?.iter().position(|&b| !is_blank(b))?;
    let blanks = &src[after..first_key];
    if src.get(first_key) != Some(&b'"') || !blanks.contains(&b'\n') {
        return None;
    }
    let mut pattern = Vec::with_capacity(blanks.len() + 2);
    pattern.push(b',');
    pattern.extend_from_slice(blanks);
    pattern.push(b'"');
    let middle = (src.len() / 2).max(first_key);
    memchr::memmem::find(&src[middle..], &pattern).map(|i| middle + i)
}

/// The two halves as one reading: the second's leaf ids follow the first's.
fn joined(first: Top, second: TopObject, open_brace: usize) -> Option<TopObject> {
    // A second `sops` member is a value of the data on one thread, the metadata in its half.
    if first.at.sops_member.is_some() && second.layout.sops_member.is_some() {
        return None;
    }
    let leaves = first.builder.spans.len();
    let members = first.at.members.len();
    let mut items = first.items;
    let mut more = second.items;
    shift_ids(&mut more, leaves);
    items.append(&mut more);
    let mut leaf_spans = first.builder.spans;
    leaf_spans.extend(second.layout.leaf_spans);
    let mut all_members = first.at.members;
    all_members.extend(second.layout.members);
    Some(TopObject {
        items,
        metadata: first.metadata.or(second.metadata),
        layout: Layout {
            src: second.layout.src,
            lent: false,
            leaf_spans,
            open_brace,
            members: all_members,
            sops_member: first
                .at
                .sops_member
                .or(second.layout.sops_member.map(|i| i + members)),
        },
    })
}

fn shift_ids(items: &mut [Item], by: usize) {
    for item in items {
        match item {
            Item::Pair { value, .. } | Item::Elem(value) => shift_value(value, by),
            Item::Comment(leaf) => leaf.id += by,
        }
    }
}

fn shift_value(value: &mut Value, by: usize) {
    match value {
        Value::Leaf(leaf) if leaf.id != NO_LEAF => leaf.id += by,
        Value::Leaf(_) => {}
        Value::Map(items) | Value::List(items) => shift_ids(items, by),
    }
}

/// The reading in halves (whatever the file's size) against the reading on one thread, with
/// the ciphertexts copied and lent alike: whether the halves were used, or what differs (for the
/// tests and the fuzz target).
pub(crate) fn compared_with_one_thread(src: &[u8]) -> Result<bool, &'static str> {
    let mut scanner = Scanner::new(src, 0);
    scanner.skip_blanks();
    // As the reading does: only an object is read in halves.
    if scanner.peek() != Some(b'{') {
        return Ok(false);
    }
    let mut used = false;
    for lend in [false, true] {
        let one = super::parse::parse_top_borrowed(src, lend);
        let halves = read_in_halves_from(&scanner, scanner.pos, 0, lend);
        used = match (one, halves) {
            (_, None) => false,
            (Err(_), Some(_)) => return Err("read in halves what one thread refuses"),
            (Ok(one), Some(two)) => {
                let (a, b) = (&one.layout, &two.layout);
                if one.items != two.items {
                    return Err("items");
                } else if one.metadata != two.metadata {
                    return Err("metadata");
                } else if a.leaf_spans != b.leaf_spans
                    || (a.open_brace, a.sops_member) != (b.open_brace, b.sops_member)
                    || a.members != b.members
                {
                    return Err("layout");
                }
                true
            }
        };
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_in_halves(text: &str) -> bool {
        match compared_with_one_thread(text.as_bytes()) {
            Ok(used) => used,
            Err(what) => panic!("the halves differ: {what}"),
        }
    }

    fn indented(members: usize, sops_at: Option<usize>) -> String {
        let mut text = String::from("{\n    ");
        for i in 0..members {
            if i > 0 {
                text.push_str(",\n    ");
            }
            if Some(i) == sops_at {
                text.push_str(
                    "\"sops\": {\n        \"version\": \"3.11.0\",\n        \"n\": [1, 2]\n    }",
                );
            } else {
                text.push_str(&format!(
                    "\"k{i}\": {{\n        \"a\": \"x{i}\",\n        \"e\": \"ENC[AES256_GCM,data:{i},type:str]\",\n        \"b\": [1, 2.5, true, null, {{\"c\": \"y\"}}],\n        \"d\": {{}}\n    }}"
                ));
            }
        }
        text.push_str("\n}\n");
        text
    }

    #[test]
    fn halves_read_as_one_thread_reads() {
        assert!(same_in_halves(&indented(100, None)));
        // Each half leaves its `ENC[...]` values in the source when asked to.
        let text = indented(100, Some(50));
        let scanner = Scanner::new(text.as_bytes(), 0);
        let top = read_in_halves_from(&scanner, 0, 0, true).unwrap();
        let mut lent = 0;
        for item in &top.items {
            crate::tree::for_each_leaf(std::slice::from_ref(item), &mut |l| {
                lent += usize::from(l.value == crate::tree::Scalar::Str(crate::tree::secret("")));
            });
        }
        assert_eq!(lent, 99);
        assert!(same_in_halves(&indented(100, Some(99))));
        assert!(same_in_halves(&indented(100, Some(3))));
        assert!(same_in_halves(&indented(3, None)));
        // Two `sops` members, one in each half: read on one thread.
        let two = indented(100, Some(3)).replace("\"k90\"", "\"sops\"");
        assert!(!same_in_halves(&two));
        // Two in the second half: the halves read them as one thread does.
        let two = indented(100, Some(99)).replace("\"k90\"", "\"sops\"");
        assert!(same_in_halves(&two));
    }

    #[test]
    fn what_is_not_split_or_does_not_read_is_left_to_one_thread() {
        // Not indented, one member, a guess inside a nested object, errors in either half,
        // text after the object.
        assert!(!same_in_halves(&indented(100, None).replace('\n', "")));
        assert!(!same_in_halves(&indented(1, None)));
        let nested = format!(
            "{{\n  \"a\": {{\n  \"deep\": 1,\n  \"x\": {}\n  }}\n}}",
            "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]"
        );
        assert!(!same_in_halves(&nested));
        let text = indented(100, None);
        assert!(!same_in_halves(&text.replacen("\"x3\"", "\"x3", 1)));
        assert!(!same_in_halves(&text.replacen("\"x90\"", "x90", 1)));
        assert!(!same_in_halves(&format!("{text}x")));
        assert!(!same_in_halves(&text[..text.len() - 3]));
    }

    /// Every JSON file of the corpus.
    #[test]
    fn corpus_files_read_in_halves_as_on_one_thread() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
        let mut dirs = vec![std::path::PathBuf::from(root)];
        let (mut files, mut used) = (0, 0);
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("corpus folder") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    if let Ok(text) = std::fs::read_to_string(&path) {
                        files += 1;
                        used += usize::from(same_in_halves(&text));
                    }
                }
            }
        }
        eprintln!("{used} of {files} corpus JSON files read in halves");
        assert!(files > 20 && used * 4 > files, "{used} of {files}");
    }
}
