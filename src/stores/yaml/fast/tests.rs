//! The fast reading against granit-parser: the same events on what it reads, a decline (after
//! the same events) on what it does not.

use super::super::events::event_span;
use super::compare_with_full;
use super::reading::{full_parser, shown, Reading};

/// `text` is read through, with granit-parser's events.
fn reads(text: &str) {
    match compare_with_full(text) {
        Ok(true) => {}
        Ok(false) => panic!("declined: {text:?}"),
        Err(e) => panic!("{e}\n in {text:?}"),
    }
}

/// `text` is declined, after the same events as granit-parser's.
fn declines(text: &str) {
    match compare_with_full(text) {
        Ok(false) => {}
        Ok(true) => panic!("read through: {text:?}"),
        Err(e) => panic!("{e}\n in {text:?}"),
    }
}

#[test]
fn block_maps_lists_and_scalars_read_as_granit_reads_them() {
    for text in [
        "a: 1\n",
        "a: 1",
        "a: 1\nb: two words  \nc:   x\n",
        "# top\n\nkey: value # right\nmap:\n  # above\n  a: 1\n  b: \"q\"\n\n  # free\nlist:\n- x\n- k: v\n  k2: w\n-   - nested\n# last\n",
        "a:\nb:   \n\"q k\": x  \nc: {}\nd: []\ne:\n  - \n  -\n",
        "a:\n- k: v\nb:\n- - x\nc:\n-\n- # c\nd:\n- y\n",
        "a:\n# c\nb: 1\n",
        "a: # c\nb: 1\n",
        "a: # c\n# d\n  b: 1\n",
        "a:\n  # c\n  - x\n",
        "a:\n\n  # c\n\n- x\n",
        "- a\n- b: c\n  d: e\n-\n  f: g\n",
        "k: 'it''s'\nl: ''\nm: \"\"\n'q': 1\n",
        "url: http://x.example/a#b?c=d:e\nt: a#b\nu: -1\nv: ?x\nw: :y\n",
        "a: 1\n---\nb: 2\n---\n- 3\n",
        "---\na: 1\n",
        "a:\n  b:\n    c: 1\n  d: 2\ne: 3\n",
        "a: x\n  # deeper comment\nb: y\n",
        "a: plain\n  # c\nb: 1\n",
        "- x\n\n  # c\n- y\n",
        "a: 1\n\n\n",
        "a: 1\n# end",
        "a: 1\n# end\n   ",
        "a: 1\n  # end\n\n",
        "x: [] # c\ny: {}  # d\n",
        "x: [ ]\ny: {  } # d\n",
        "é: ü\nkey: 日本語\n",
        "  a: 1\n  b: 2\n",
        "a:\n  - b\n  - c\nd: e\n",
        "a:\n  -\n    b: 1\n",
        "a:\n- b\n# c\n- d\n",
        "a:\n- b\n# c\ne: f\n",
        "a:\n  x\n",
        "a: \"esc\\n\"\nb: \"\\t\\\"q\\\" \\\\ \\x41 \\u00e9 \\U0001F600 \\/ \\N \\_ \\L \\P \\0 \\e \\ \" # c\nc:\n- \"\\\"\"\n",
        "- - - a\n    - b\n  - c\n- d\n",
        "a: plain\n  continued\n",
        "a: plain\n  continued\n\n  after an empty line\n\n\nb: 1\n",
        "a: plain\n    more  \n  and more # c\nb: 1\n",
        "- a\n  b\n- c\n",
        "a: 'multi\n  line'\n",
        "a: 'it''s\n  multi''line  \n\n  end' # c\nb: 2\n",
        "- k: plain\n    more\n  l: 'x\n    y'\n",
        "a: [x, \"y\", 'z']\nb: [ ]\nc: [1,2 , 3 ] # c\nd: [a,]\n",
        "- [a b, -1, 'it''s', x:y, a#b]\n- []\n",
        "a: plain\n  - more\n  \"quoted\" [x] {y} &z *w !v |u >t 's %r @q `p ,o ?n -m\nb: 1\n",
    ] {
        reads(text);
    }
}

#[test]
fn anchors_and_aliases_read_as_granit_reads_them() {
    for text in [
        "a: &x 1\nb: *x\n",
        "a: &x 1 # c\nb: *x # d\nc: *x\n",
        "base: &base\n  k: v\n  l: w\nother:\n  <<: *base\n  m: n\n",
        "a: &x\n  - 1\n  - 2\nb: *x\n",
        "a: &x\n- 1\n- 2\nb: *x\n",
        "a: &x\nb: *x\n",
        "a: &x\n",
        "a: &x   \n",
        "a: &x\n  value\n",
        "- &x\n- *x\n",
        "- &x one\n- *x\n- &y\n  k: v\n- *y\n",
        "- &x\n  - 1\n- *x\n",
        "- &x\n  # c\n  k: v\n",
        "a: &x 'q''s'\nb: &y \"dq\"\nc: &z plain\n  folded on\nd: *x\n",
        "a: &x 1\nb: &x 2\nc: *x\n",
        "a: &x 1\n---\nb: &x 2\nc: *x\n",
        "a: &base-1.x_y 1\nb: *base-1.x_y\n",
        "a:\n  b: &x 1\n  c: *x\nd: *x\n",
        "a: &x # c\n  b: 1\nc: *x\n",
        "a: &x\n  # c\n  b: 1\n",
        "a: &x # c\n  # d\n- 1\nc: *x\n",
        "a: &x # c\n  - 1\n",
    ] {
        reads(text);
    }
    for text in [
        // An alias of no anchor (granit-parser refuses it), an anchored alias.
        "a: *x\n",
        "a:\n  *x\n",
        "a: &x\n  *x\n",
        // An alias in a flow list; a list entry's anchor with a comment after it.
        "a: &x 1\nd: [*x]\n",
        "- &x # c\n  k: v\n",
    ] {
        declines(text);
    }
}

#[test]
fn literal_block_scalars_read_as_granit_reads_them() {
    for text in [
        "f: |\n  line1\n\n  line2\ng: 1\n",
        "g: |-\n    x\nh: |+\n  y\n\ni: end\n",
        "e: |\n\n  l1\n\n\nf: |-\n  x\n  \n\ng: 1\n",
        "k: |\n  last",
        "k: |\n  last\n",
        "k: |+\n  last\n\n\n",
        "k: |+\n  a\n ",
        "k: |\n  a\n  ",
        "k: |-\n  a\n\n ",
        "k: | # c\n  x\n  # not a comment\n",
        "- |\n  a\n   b\n- x\n",
        "- k: |\n    a\n  l: 2\n",
        "a: |\n  x\n\n# c\nb: 1\n",
        "a: |\n  x\n  \nb: 1\n",
        "a: >\n  folded\n  text\n\n  para\n   more indented\n  back\n\n\n  end\nb: 1\n",
        "a: >-\n  x\n\n\n  y\nb: >+\n  z\n\n",
        "- >\n\n  lead\n    deep\n\n    deeper\n  out\n",
        "sops:\n    age:\n        - recipient: age1x\n          enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n            YWJj\n            -----END AGE ENCRYPTED FILE-----\n    lastmodified: \"2026-12-03T00:00:00Z\"\n",
    ] {
        reads(text);
    }
}

#[test]
fn what_it_does_not_know_is_declined() {
    for text in [
        "",
        "# only a comment\n",
        "scalar\n",
        "a: !!str 1\n",
        // Anchors and aliases it leaves to granit-parser.
        "&a a: 1\n",
        "&a\na: 1\n",
        "a: *x\n",
        "a: &x 1\n---\nb: *x\n",
        "a: &x [1]\n",
        "a: &x {}\n",
        "a: &x |\n  y\n",
        "a: &x *y\n",
        "a: &x &y 1\n",
        "a: &x\n# c\nb: 1\n",
        "a: &x # c\nb: 1\n",
        "a: &x\n  # c\nb: 1\n",
        "a: &x:y 1\n",
        "a: &é 1\n",
        "a: &x !!str 1\n",
        "a: &x 1\nb: *x 2\n",
        "a: &x 1\nb: *x: 2\n",
        "a: &x 1\n*x : 2\n",
        "- &x k: v\n",
        "a: [1, [2]]\n",
        "a: [a: b]\n",
        "a: [a,,b]\n",
        "a: [a # c\n  ]\n",
        "a: [a,\n  b]\n",
        "a: [- a]\n",
        "a: [\"\\n\"]\n",
        "a: [{}]\n",
        "a: {b: 1}\n",
        "a: |2\n  x\n",
        "a: \"\\q\"\n",
        "a: \"\\ud800\"\n",
        "a: \"line \\\n  continued\"\n",
        "a: \"multi\n  line\"\n",
        "a:\tb\n",
        "a: b\rc: d\n",
        "a: b\r",
        "a: 'x\r  y'\n",
        "%YAML 1.2\n---\na: 1\n",
        "a: 1\n...\n",
        "? a\n: b\n",
        "a: 1\n---\n",
        "--- a\n",
        "a: b: c\n",
        "a: - b\n",
        "a: 1\n b: 2\n",
        "a:\n  b: 1\n c: 2\n",
        "- a\nb: 1\n",
        "a: 1\n- b\n",
        "a: |\n\n",
        "a: plain\n  more: x\n",
        "a: 'x\ny'\n",
        "a: '\n  y'\n",
        "a: 'x\n  '\n",
        "a: 'x\n  y\n",
        "env:\n  # c\n  |\n   text\n",
        "- |\n  a\n-\n  |\n   b\n",
        "a: |\n  x\n   \n",
        "a: @x\n",
        "a: \u{85}x\n",
        "\u{feff}a: 1\n",
        "a:\n- # c\n  b: 1\n",
    ] {
        declines(text);
    }
}

#[test]
fn long_comment_blocks_where_granit_looks_ahead_are_read() {
    // granit-parser's default refuses more than 96 comments in a row after `key:` or `-`.
    let block = "  # a commented-out line\n".repeat(300);
    reads(&format!("a:\n{block}  b: 2\n"));
    reads(&format!("- x\n-\n{block}  y: 1\n"));
    reads(&format!("a: 1\n{block}b: 2\n"));
}

#[test]
fn nesting_deeper_than_granit_reads_is_declined() {
    declines(&"- ".repeat(300));
    reads(&format!("{}x\n", "- ".repeat(150)));
}

#[test]
fn a_decline_midway_gives_the_rest_from_granit() {
    let text = "a: 1\nb:\n  c: 2\nd: &x 3\ne: *x\nf: !!str 4\ng: *x\n";
    let full: Vec<String> = full_parser(text)
        .map(|ev| {
            let (event, span) = ev.expect("parses");
            shown(&(event, event_span(&span)))
        })
        .collect();
    let read: Vec<String> = Reading::new(text)
        .map(|ev| shown(&ev.expect("parses")))
        .collect();
    assert_eq!(read, full);
}

#[test]
fn a_decline_midway_gives_granits_error() {
    let text = "a: 1\nb: [\n";
    assert!(Reading::new(text).any(|ev| ev.is_err()));
}

/// Every YAML file of the corpus: what the fast reading reads through, it reads as
/// granit-parser does; it reads nine in ten of them through.
#[test]
fn corpus_files_read_as_granit_reads_them() {
    let files = crate::stores::yaml::corpus_yaml_files();
    let mut through = 0;
    for path in &files {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        match compare_with_full(&text) {
            Ok(true) => through += 1,
            Ok(false) => {}
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }
    eprintln!(
        "{through} of {} corpus YAML files read through",
        files.len()
    );
    // 273 of 282 when written: the rest use anchors, escapes, flow maps, templates or CRLF.
    assert!(
        through * 10 >= files.len() * 9,
        "{through} of {}",
        files.len()
    );
}

#[test]
fn a_decline_drops_the_events_not_given() {
    // The folded value is read on the first line's step and waits for the next line's: the
    // decline there drops it, never given (`discard` wipes such copies as it drops them).
    let text = "a: 'x\n  y'\nb: !!str 1\n";
    let mut fast = super::Fast::new(text);
    let mut given = Vec::new();
    while let Some(Ok(ev)) = fast.next_event() {
        given.push(shown(&ev));
    }
    assert!(given.iter().all(|e| !e.contains("x y")), "{given:?}");
    assert!(fast.queue.is_empty() && fast.held.is_empty());
}

mod generated {
    use super::compare_with_full;
    use proptest::prelude::*;

    /// A line of block YAML, anchors and aliases among them, at one of a few indentations,
    /// ending in LF or CR LF.
    fn line() -> impl Strategy<Value = String> {
        let body = prop_oneof![
            (0..4u8, 0..3u8).prop_map(|(k, a)| format!("k{k}: &a{a} v")),
            (0..4u8, 0..3u8).prop_map(|(k, a)| format!("k{k}: *a{a}")),
            (0..4u8, 0..3u8).prop_map(|(k, a)| format!("k{k}: &a{a}")),
            (0..4u8, 0..3u8).prop_map(|(k, a)| format!("k{k}: &a{a} # c")),
            (0..3u8).prop_map(|a| format!("- &a{a} # c")),
            (0..4u8, 0..3u8).prop_map(|(k, a)| format!("k{k}: *a{a} # c")),
            (0..3u8).prop_map(|a| format!("- &a{a}")),
            (0..3u8).prop_map(|a| format!("- &a{a} v")),
            (0..3u8).prop_map(|a| format!("- *a{a}")),
            (0..3u8).prop_map(|a| format!("*a{a}")),
            (0..3u8).prop_map(|a| format!("&a{a} w")),
            (0..4u8).prop_map(|k| format!("k{k}:")),
            (0..4u8).prop_map(|k| format!("k{k}: 'q'")),
            (0..4u8).prop_map(|k| format!("k{k}: \"e\\t\\\"q\\\" \\u00e9\"")),
            Just("- \"\\x41\\\\\"".to_string()),
            Just("\"k\\n\": v".to_string()),
            Just("- v".to_string()),
            Just("-".to_string()),
            Just("# c".to_string()),
            Just(String::new()),
            Just("---".to_string()),
            Just("<<: *a0".to_string()),
        ];
        let eol = prop_oneof![Just("\n"), Just("\r\n")];
        (0..3usize, body, eol)
            .prop_map(|(indent, body, eol)| format!("{}{body}{eol}", "  ".repeat(indent)))
    }

    proptest! {
        /// On such text the fast reading gives granit-parser's events, or declines after giving
        /// only its first ones.
        #[test]
        fn anchored_block_yaml_reads_as_granit_reads_it(lines in proptest::collection::vec(line(), 1..12)) {
            let text = lines.concat();
            if let Err(e) = compare_with_full(&text) {
                return Err(TestCaseError::fail(format!("{e}\n in {text:?}")));
            }
        }
    }
}

/// Lines ending in CR LF read as those ending in LF do: through, or declined, alike, and with
/// granit-parser's events either way (a lone CR is declined).
#[test]
fn crlf_lines_read_as_lf_lines_do() {
    let cases = [
        "a: 1\nb: two words  \nc:   x\n",
        "# top\n\nkey: value # right\nmap:\n  # above\n  a: 1\n  b: \"q\"\n\n  # free\nlist:\n- x\n- k: v\n  k2: w\n-   - nested\n# last\n",
        "a:\nb:   \n\"q k\": x  \nc: {}\nd: []\ne:\n  - \n  -\n",
        "a: # c\n# d\n  b: 1\n",
        "a:\n\n  # c\n\n- x\n",
        "k: 'it''s'\nl: ''\nm: \"\"\n'q': 1\n",
        "a: 1\n---\nb: 2\n---\n- 3\n",
        "a: plain\n  folded on\n\n  and on # c\nb: 'quoted\n  over\n\n  lines'\n",
        "a: |\n  x\n\n  y\nb: >-\n  folded\n  text\n\nc: |+\n  kept\n\n\nd: 1\n",
        "a: |\n  last\n",
        "a: |\n  no break at the end",
        "a: [x, 'y', \"z\"] # c\n",
        "a: &x 1 # c\nb: *x\nc: &y # d\n  k: v\nd: *y\n",
        "a: 1\n# end",
        "a: 1\n  # end\n\n",
    ];
    for lf in cases {
        let crlf = lf.replace('\n', "\r\n");
        let want = compare_with_full(lf).unwrap_or_else(|e| panic!("{e}\n in {lf:?}"));
        let got = compare_with_full(&crlf).unwrap_or_else(|e| panic!("{e}\n in {crlf:?}"));
        assert_eq!(got, want, "{crlf:?}");
        assert!(got, "declined: {lf:?}");
        // Mixed: every other line break a CR LF.
        let mut mixed = String::new();
        for (i, line) in lf.split_inclusive('\n').enumerate() {
            match line.strip_suffix('\n') {
                Some(l) if i % 2 == 0 => mixed.push_str(&format!("{l}\r\n")),
                _ => mixed.push_str(line),
            }
        }
        let got = compare_with_full(&mixed).unwrap_or_else(|e| panic!("{e}\n in {mixed:?}"));
        assert!(got, "declined: {mixed:?}");
    }
}
