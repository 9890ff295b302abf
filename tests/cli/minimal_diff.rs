//! Edits touch only what changed: after `sepal set` of one value (the same re-encryption `edit`
//! does), the encrypted file differs from before only on that value's line and the `lastmodified`
//! and `mac` metadata lines (and the layout record's, where the file has one), in every store
//! (merge keys, anchors and flow maps included).

use crate::common::{Identity, Sandbox, Tool};

struct Case {
    file: &'static str,
    plain: &'static str,
    path: &'static str,
    value: &'static str,
    /// A piece of the changed value's line.
    line: &'static str,
}

const CASES: &[Case] = &[
    Case {
        file: "m.yaml",
        plain: "base: &b {timeout: 30, s: \"a b\", q: hello}\nsvc:\n  <<: *b\n  name: x\n  # note\n  list: [1, 'two']\nl: &l [1, \"two\"]\nm: *l\nblock: |\n  text\n",
        path: r#"["svc"]["name"]"#,
        value: r#""y""#,
        line: "name:",
    },
    Case {
        file: "m.json",
        plain: "{\n  \"a\": {\"b\": \"x\", \"n\": 1.50},\n  \"name\": \"x\",\n  \"list\": [true, null, \"s\"]\n}\n",
        path: r#"["name"]"#,
        value: r#""y""#,
        line: "\"name\":",
    },
    Case {
        file: "m.env",
        plain: "# comment\nA=1\nNAME=x\nB=two words\n",
        path: r#"["NAME"]"#,
        value: r#""y""#,
        line: "NAME=",
    },
    Case {
        file: "m.ini",
        plain: "; top\n[s]\na = 1\nname = x ; inline\n\n[t]\nb = \"quoted\"\n",
        path: r#"["s"]["name"]"#,
        value: r#""y""#,
        line: "name",
    },
];

#[test]
fn set_changes_only_its_line_lastmodified_and_mac() {
    let sb = Sandbox::new();
    let mut failures = Vec::new();
    for c in CASES {
        let before = sb.encrypt_for_key1(Tool::Sepal, c.file, c.plain, &format!("enc-{}", c.file));
        let before = String::from_utf8(before).expect("utf-8");
        let enc = format!("enc-{}", c.file);
        let r = sb
            .run(Tool::Sepal, Identity::Key1, &["set", &enc, c.path, c.value])
            .expect("sepal");
        assert!(r.ok(), "{}: set: {}", c.file, r.describe());
        let after = std::fs::read_to_string(sb.join(&enc)).expect("the edited file");
        let (a, b): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
        if a.len() != b.len() {
            failures.push(format!("{}: {} lines became {}", c.file, a.len(), b.len()));
            continue;
        }
        for (x, y) in a.iter().zip(&b) {
            let allowed = x.contains(c.line)
                || x.contains("lastmodified")
                || x.contains("mac")
                || x.contains("sepal_layout");
            if x != y && !allowed {
                failures.push(format!(
                    "{}: an untouched line changed:\n  {x}\n  {y}",
                    c.file
                ));
            }
        }
        let changed = a
            .iter()
            .zip(&b)
            .filter(|(x, y)| x != y && x.contains(c.line))
            .count();
        if changed != 1 {
            failures.push(format!("{}: the value's line did not change once", c.file));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
