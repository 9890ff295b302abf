//! `set` and `unset` on files made by sops and by sepal. Each operation runs with sepal and with
//! the real sops on copies of the same file: exit codes must agree, `sops decrypt` of sepal's
//! result must equal `sops decrypt` of sops's result, and sepal's encrypted file must keep every
//! unrelated line (sepal promises minimal diffs: only the touched value's lines, `lastmodified`
//! and `mac` change). On sepal's own file the checks of sepal alone (exit codes as the table
//! expects, unrelated lines kept) need no sops; the comparisons with sops are in
//! `set_and_unset_on_a_file_made_by_sepal_with_sops`, which fails when sops is missing.

use crate::common::{self, diff, Failures, Identity, Part, Run, Sandbox, Tool};

const PLAIN: &str = "# app settings\napp:\n    user: svc\n    password: hunter2\n    port: 8443\nlist:\n    - one\n    - two\nflag: true\nratio: 0.5\nempty: \"\"\nlast: end\n";

fn make(sb: &Sandbox, maker: Tool) -> Vec<u8> {
    sb.encrypt_for_key1(maker, "plain.yaml", PLAIN, "f.yaml")
}

/// The part of an encrypted YAML file before its `sops:` block.
fn values_part(t: &str) -> &str {
    t.find("\nsops:\n").map_or(t, |i| &t[..i + 1])
}

/// Lines of `a` that are not kept in `b` (by a longest common subsequence).
fn removed_lines<'a>(a: &'a str, b: &str) -> Vec<&'a str> {
    let (x, y): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut l = vec![vec![0usize; y.len() + 1]; x.len() + 1];
    for i in (0..x.len()).rev() {
        for j in (0..y.len()).rev() {
            l[i][j] = if x[i] == y[j] {
                l[i + 1][j + 1] + 1
            } else {
                l[i + 1][j].max(l[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < x.len() {
        if j < y.len() && x[i] == y[j] {
            i += 1;
            j += 1;
        } else if j < y.len() && l[i][j + 1] >= l[i + 1][j] {
            j += 1;
        } else {
            out.push(x[i]);
            i += 1;
        }
    }
    out
}

fn key_of(line: &str) -> &str {
    line.trim_start()
        .trim_start_matches("- ")
        .split(':')
        .next()
        .unwrap_or("")
}

struct Op {
    name: &'static str,
    args: &'static [&'static str],
    stdin: Option<&'static str>,
    /// Keys whose (encrypted) lines may disappear or change.
    touched: &'static [&'static str],
    code: i32,
}

const OPS: &[Op] = &[
    Op {
        name: "set an existing value",
        args: &["set", "f.yaml", r#"["app"]["password"]"#, r#""n3w pw""#],
        stdin: None,
        touched: &["password"],
        code: 0,
    },
    Op {
        name: "set a number",
        args: &["set", "f.yaml", r#"["app"]["port"]"#, "9000"],
        stdin: None,
        touched: &["port"],
        code: 0,
    },
    Op {
        name: "set a new nested key",
        args: &["set", "f.yaml", r#"["app"]["db"]["host"]"#, r#""db.local""#],
        stdin: None,
        touched: &[],
        code: 0,
    },
    Op {
        name: "set a new top-level key",
        args: &["set", "f.yaml", r#"["extra"]"#, r#""x""#],
        stdin: None,
        touched: &[],
        code: 0,
    },
    Op {
        name: "append to a list",
        args: &["set", "f.yaml", r#"["list"][99]"#, r#""three""#],
        stdin: None,
        touched: &[],
        code: 0,
    },
    Op {
        name: "replace a list element",
        args: &["set", "f.yaml", r#"["list"][0]"#, r#""uno""#],
        stdin: None,
        touched: &["ENC[AES256_GCM,data"],
        code: 0,
    },
    Op {
        name: "set an object",
        args: &["set", "f.yaml", r#"["obj"]"#, r#"{"k": "v", "n": [1, 2]}"#],
        stdin: None,
        touched: &[],
        code: 0,
    },
    Op {
        name: "set --value-file",
        args: &[
            "set",
            "--value-file",
            "f.yaml",
            r#"["app"]["user"]"#,
            "value.json",
        ],
        stdin: None,
        touched: &["user"],
        code: 0,
    },
    Op {
        name: "set --value-stdin",
        args: &["set", "--value-stdin", "f.yaml", r#"["app"]["user"]"#],
        stdin: Some("\"from stdin\"\n"),
        touched: &["user"],
        code: 0,
    },
    Op {
        name: "set invalid JSON",
        args: &["set", "f.yaml", r#"["app"]["user"]"#, "not json"],
        stdin: None,
        touched: &[],
        code: 7,
    },
    Op {
        name: "set a bad path",
        args: &["set", "f.yaml", r#"["app""#, r#""x""#],
        stdin: None,
        touched: &[],
        code: 7,
    },
    Op {
        name: "set without a value",
        args: &["set", "f.yaml", r#"["app"]"#],
        stdin: None,
        touched: &[],
        code: 100,
    },
    Op {
        name: "unset a key",
        args: &["unset", "f.yaml", r#"["app"]["port"]"#],
        stdin: None,
        touched: &["port"],
        code: 0,
    },
    Op {
        name: "unset a list element",
        args: &["unset", "f.yaml", r#"["list"][1]"#],
        stdin: None,
        touched: &["ENC[AES256_GCM,data"],
        code: 0,
    },
    Op {
        name: "unset a missing key",
        args: &["unset", "f.yaml", r#"["nope"]"#],
        stdin: None,
        touched: &[],
        code: 1,
    },
    Op {
        name: "unset an index out of range",
        args: &["unset", "f.yaml", r#"["list"][7]"#],
        stdin: None,
        touched: &[],
        code: 1,
    },
    Op {
        name: "unset --idempotent a missing key",
        args: &["unset", "--idempotent", "f.yaml", r#"["nope"]"#],
        stdin: None,
        touched: &[],
        code: 0,
    },
    Op {
        name: "set --idempotent the same value",
        args: &[
            "set",
            "--idempotent",
            "f.yaml",
            r#"["app"]["user"]"#,
            r#""svc""#,
        ],
        stdin: None,
        touched: &[],
        code: 0,
    },
];

fn run_op(sb: &Sandbox, tool: Tool, op: &Op) -> Run {
    let mut c = sb.command(tool, Identity::Key1).unwrap();
    c.args(op.args);
    common::run(c, op.stdin.map(str::as_bytes))
}

/// Every operation by sepal on a file made by `maker`, for the checks `part` covers: sepal's own
/// result (`own`: the file made by sepal alone, or by sops), and the comparisons with sops.
fn check(maker: Tool, part: Part, f: &mut Failures) {
    let (own, sops) = (part.covers(&[maker]), part == Part::WithSops);
    for op in OPS {
        let what = format!("{}'s file: {}", maker.name(), op.name);
        let mine = Sandbox::new();
        let theirs = Sandbox::new();
        let before = make(&mine, maker);
        theirs.write("f.yaml", &before);
        for sb in [&mine, &theirs] {
            sb.write("value.json", "\"from a file\"");
        }
        let r = run_op(&mine, Tool::Sepal, op);
        if sops {
            let reference = run_op(&theirs, Tool::Sops, op);
            if reference.code != op.code {
                f.add(format!(
                    "{what}: (reference) sops exited {}, the test expects {}: {}",
                    reference.code,
                    op.code,
                    reference.describe()
                ));
            }
            if r.code != reference.code {
                f.add(format!(
                    "{what}: sepal exited {}, sops {}: {}",
                    r.code,
                    reference.code,
                    r.describe()
                ));
                continue;
            }
        } else if r.code != op.code {
            f.add(format!(
                "{what}: sepal exited {}, the test expects {}: {}",
                r.code,
                op.code,
                r.describe()
            ));
            continue;
        }
        let after = std::fs::read(mine.join("f.yaml")).unwrap();
        if r.code != 0 || op.args.contains(&"--idempotent") {
            if !own {
                continue;
            }
            if after != before {
                f.add(format!(
                    "{what}: the file changed: {}",
                    diff(&before, &after)
                ));
            }
            if r.code != 0 && r.stderr_text().trim().is_empty() {
                f.add(format!("{what}: no error message"));
            }
            continue;
        }
        let (b, a) = (
            String::from_utf8_lossy(&before),
            String::from_utf8_lossy(&after),
        );
        if own {
            for line in removed_lines(values_part(&b), values_part(&a)) {
                if !op.touched.contains(&key_of(line)) {
                    f.add(format!(
                        "{what}: an unrelated line changed or moved: {line:?}"
                    ));
                }
            }
        }
        if !sops {
            continue;
        }
        let ours = mine
            .run(Tool::Sops, Identity::Key1, &["decrypt", "f.yaml"])
            .unwrap();
        let want = theirs
            .run(Tool::Sops, Identity::Key1, &["decrypt", "f.yaml"])
            .unwrap();
        if !ours.ok() {
            f.add(format!(
                "{what}: sops cannot decrypt sepal's result: {}",
                ours.describe()
            ));
        } else if ours.stdout != want.stdout {
            f.add(format!(
                "{what}: sops decrypts sepal's result differently from sops's own: {}",
                diff(&want.stdout, &ours.stdout)
            ));
        }
    }
}

#[test]
fn set_and_unset_on_a_file_made_by_sepal() {
    let mut f = Failures::default();
    check(Tool::Sepal, Part::SepalAlone, &mut f);
    f.finish("set/unset on sepal's file");
}

#[test]
fn set_and_unset_on_a_file_made_by_sepal_with_sops() {
    Part::WithSops.start("setunset::set_and_unset_on_a_file_made_by_sepal_with_sops");
    let mut f = Failures::default();
    check(Tool::Sepal, Part::WithSops, &mut f);
    f.finish("set/unset on sepal's file, compared with sops");
}

#[test]
fn set_and_unset_on_a_file_made_by_sops() {
    Part::WithSops.start("setunset::set_and_unset_on_a_file_made_by_sops");
    let mut f = Failures::default();
    check(Tool::Sops, Part::WithSops, &mut f);
    f.finish("set/unset on sops's file");
}

/// On sepal's own file the decrypted result keeps the layout: only the changed line differs.
#[test]
fn set_an_existing_value_keeps_the_plaintext_layout() {
    let sb = Sandbox::new();
    make(&sb, Tool::Sepal);
    let r = sb
        .run(
            Tool::Sepal,
            Identity::Key1,
            &["set", "f.yaml", r#"["app"]["password"]"#, r#""n3w""#],
        )
        .unwrap();
    assert!(r.ok(), "set: {}", r.describe());
    let back = sb
        .run(Tool::Sepal, Identity::Key1, &["decrypt", "f.yaml"])
        .unwrap();
    let want = PLAIN.replace("hunter2", "n3w");
    assert!(
        back.stdout == want.as_bytes(),
        "{}",
        diff(want.as_bytes(), &back.stdout)
    );
}
