//! Generated YAML files that put comments, empty collections (with and without comments),
//! anchors, aliases, merge keys and block scalars next to each other at every position: sepal's
//! decrypt must read as the same data as the input, for files sepal made and files sops made.
//! The data is compared by PyYAML (`common::doc_json`), a reader that shares no code with sepal.

use crate::common::{self, Identity, Sandbox, Tool};

/// Values a key can take (each a YAML fragment that follows `key:`; multi-line ones start with a
/// line break and are indented by two spaces).
const VALUES: &[&str] = &[
    " plain",
    " \"quoted # not a comment\"",
    " 'single'",
    " 123",
    " 1.50",
    " true",
    "",
    " []",
    " {}",
    " [] # after an empty list",
    " {} # after an empty map",
    " [a, \"b\", 3]",
    " {x: 1, y: [2]}",
    "\n  - a\n  - b # inline\n  # between\n  - c",
    "\n  # only a comment\n  - x",
    " |\n  line one\n  line two",
    " |-\n  kept\n\n  blank above",
    " |+\n  keep\n\n",
    " >\n  folded\n  text",
    " &anc anchored",
    " *anc",
    " &m {mk: mv, mn: 2}",
    "\n  <<: *m\n  own: yes-no",
    "\n  nested:\n    deep: [] # c\n    list:\n      - {}\n      - []",
];

/// A small deterministic generator (no seed can make the test flaky).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

/// File `i`: a few keys with values and comments; anchors come before their aliases.
fn file(i: usize) -> String {
    let mut r = Lcg(i as u64 + 1);
    let mut out = String::new();
    if r.next(3) == 0 {
        out.push_str("# leading comment\n");
    }
    let (mut anchored, mut merged) = (false, false);
    for k in 0..(2 + r.next(5)) {
        if r.next(4) == 0 {
            out.push_str("# above the key\n");
        }
        let mut v = VALUES[r.next(VALUES.len())];
        // Each anchor once, before its aliases.
        if v == " *anc" && !anchored {
            v = " &anc anchored";
        } else if v.contains("&anc") && anchored {
            v = " *anc";
        }
        if v.contains("<<: *m") && !merged {
            v = " &m {mk: mv, mn: 2}";
        } else if v.contains("&m ") && merged {
            v = "\n  <<: *m\n  own: yes-no";
        }
        anchored |= v.contains("&anc");
        merged |= v.contains("&m ");
        out.push_str(&format!("k{k}:{v}\n"));
        if r.next(5) == 0 {
            out.push('\n');
        }
    }
    if r.next(3) == 0 {
        out.push_str("# trailing comment\n  # indented trailing comment\n");
    }
    out
}

const FILES: usize = 60;

fn check(maker: Tool) {
    common::need_python_yaml("generated");
    let sb = Sandbox::new();
    let mut failures = Vec::new();
    for i in 0..FILES {
        let plain = file(i);
        let name = format!("g{i}.yaml");
        let enc = format!("g{i}.enc.yaml");
        sb.encrypt_for_key1(maker, &name, &plain, &enc);
        let r = sb
            .run(Tool::Sepal, Identity::Key1, &["decrypt", &enc])
            .expect("sepal");
        if !r.ok() {
            failures.push(format!("{name}: sepal decrypt: {}\n{plain}", r.describe()));
            continue;
        }
        let back = sb.write(&format!("g{i}.dec.yaml"), &r.stdout);
        let want = common::doc_json("plain", "yaml", &sb.join(&name))
            .unwrap_or_else(|e| panic!("generated file {name} is not YAML: {e}\n{plain}"));
        let got = common::doc_json("plain", "yaml", &back).map_err(|_| "not YAML".to_string());
        if Ok(want) != got {
            failures.push(format!(
                "{name} ({} made it): decrypts to other data\n--- input\n{plain}--- sepal decrypt\n{}",
                maker.name(),
                String::from_utf8_lossy(&r.stdout)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn generated_yaml_made_by_sepal_decrypts_to_the_same_data() {
    check(Tool::Sepal);
}

#[test]
fn generated_yaml_made_by_sops_decrypts_to_the_same_data() {
    common::need_sops("generated_yaml_made_by_sops_decrypts_to_the_same_data");
    check(Tool::Sops);
}
