//! The layout record (docs/layout-record.md): files the splice alone cannot give back come back
//! byte for byte through the encrypted `sepal_layout` entry; files it can carry none; the record
//! never holds plaintext in clear, never changes a value, survives sepal's own writes (set,
//! rotate, updatekeys' metadata rewrite) and is ignored when it does not fit. The `…_with_sops`
//! tests check that sops reads such files (MAC included) and that sepal still decrypts a file
//! sops rewrote (sops drops the record).

use crate::common::{self, Failures, Identity, Part, Sandbox, Tool};

/// Files whose encryption needs a record: (name, plaintext, a secret fragment that must not
/// appear in the encrypted file).
const LOSSY: &[(&str, &str, &str)] = &[
    (
        "folded.yaml",
        "f: >\n  alpha bravo\n  charlie\nplain: delta\n  echo\nq: \"foxtrot\n  golf\"\n",
        "charlie",
    ),
    (
        "alias.yaml",
        "base: &b {host: hotel, port: 1}\nsvc:\n  <<: *b\n  name: india\nl: &l [juliet, 2]\nm: *l\n",
        "hotel",
    ),
    (
        "emoji.yaml",
        "m: |\n  kilo \u{1F49A}\n  lima\n",
        "kilo",
    ),
    (
        "escapes.json",
        "{\"a\": \"mike\\u0026november\", \"b\": \"\\/oscar\", \"c\": \"\\u00e9papa\"}\n",
        "oscar",
    ),
    (
        "comments.ini",
        "[s]\n# quebec\n\n# romeo\nkey = sierra\n",
        "sierra",
    ),
];

/// Files the splice gives back exactly: no record.
const EXACT: &[(&str, &str)] = &[
    ("plain.yaml", "# c\na: 1\nb: \"two\"\nc: [x, y]\n"),
    ("plain.json", "{\n  \"a\": 1,\n  \"b\": \"two\"\n}\n"),
    ("plain.env", "A=1\nB=two\n"),
    ("plain.ini", "[s]\na = 1\n"),
];

fn encrypt(sb: &Sandbox, name: &str, plain: &str) -> String {
    let out = format!("enc-{name}");
    let bytes = sb.encrypt_for_key1(Tool::Sepal, name, plain, &out);
    String::from_utf8(bytes).expect("utf-8")
}

fn decrypt(sb: &Sandbox, tool: Tool, file: &str) -> Vec<u8> {
    let r = sb.run(tool, Identity::Key1, &["decrypt", file]).unwrap();
    assert!(r.ok(), "{} decrypt {file}: {}", tool.name(), r.describe());
    r.stdout
}

#[test]
fn lossy_files_come_back_exactly_through_the_record() {
    let sb = Sandbox::new();
    let mut f = Failures::default();
    for (name, plain, secret) in LOSSY {
        let enc = encrypt(&sb, name, plain);
        if !enc.contains("sepal_layout") {
            f.add(format!("{name}: no layout record"));
        }
        if enc.contains(secret) {
            f.add(format!(
                "{name}: {secret:?} is in the encrypted file in clear"
            ));
        }
        let back = decrypt(&sb, Tool::Sepal, &format!("enc-{name}"));
        if back != plain.as_bytes() {
            f.add(format!(
                "{name}: not byte for byte:\n{}",
                common::diff(plain.as_bytes(), &back)
            ));
        }
    }
    f.finish("lossy_files_come_back_exactly_through_the_record");
}

#[test]
fn exact_files_carry_no_record() {
    let sb = Sandbox::new();
    for (name, plain) in EXACT {
        let enc = encrypt(&sb, name, plain);
        assert!(
            !enc.contains("sepal_layout"),
            "{name}: a record it does not need"
        );
        assert_eq!(
            decrypt(&sb, Tool::Sepal, &format!("enc-{name}")),
            plain.as_bytes()
        );
    }
}

#[test]
fn set_and_rotate_keep_the_layout() {
    let sb = Sandbox::new();
    let (name, plain, _) = LOSSY[1];
    encrypt(&sb, name, plain);
    let file = format!("enc-{name}");
    let r = sb
        .run(
            Tool::Sepal,
            Identity::Key1,
            &["set", &file, r#"["svc"]["name"]"#, r#""zulu""#],
        )
        .unwrap();
    assert!(r.ok(), "set: {}", r.describe());
    let expected = plain.replace("india", "zulu");
    assert_eq!(
        String::from_utf8_lossy(&decrypt(&sb, Tool::Sepal, &file)),
        expected,
        "set keeps the aliases"
    );
    let r = sb
        .run(Tool::Sepal, Identity::Key1, &["rotate", "-i", &file])
        .unwrap();
    assert!(r.ok(), "rotate: {}", r.describe());
    assert_eq!(
        String::from_utf8_lossy(&decrypt(&sb, Tool::Sepal, &file)),
        expected,
        "rotate keeps the record (under the new data key)"
    );
}

#[test]
fn edit_shows_the_exact_file_and_keeps_the_layout() {
    let sb = Sandbox::new();
    let (name, plain, _) = LOSSY[1];
    encrypt(&sb, name, plain);
    let file = format!("enc-{name}");
    // The editor checks that its buffer is the original file, then changes one value.
    let dir = sb.path().display();
    let script = format!(
        "#!/bin/sh\nfor a; do f=\"$a\"; done\ncp \"$f\" '{dir}/buffer.txt'\n\
         sed -i 's/india/uniform/' \"$f\"\n"
    );
    let editor = sb.write("editor.sh", script);
    crate::shamir::set_exec(&editor);
    let mut c = sb.command(Tool::Sepal, Identity::Key1).unwrap();
    c.env("EDITOR", &editor).args(["edit", &file]);
    let r = common::run(c, None);
    assert!(r.ok(), "edit: {}", r.describe());
    let buffer = std::fs::read_to_string(sb.join("buffer.txt")).expect("the buffer");
    assert_eq!(buffer, plain, "the editor gets the exact file");
    assert_eq!(
        String::from_utf8_lossy(&decrypt(&sb, Tool::Sepal, &file)),
        plain.replace("india", "uniform"),
        "the edit keeps the aliases"
    );
}

#[test]
fn key_changes_keep_the_record() {
    let sb = Sandbox::new();
    let (name, plain, _) = LOSSY[0];
    encrypt(&sb, name, plain);
    let file = format!("enc-{name}");
    // A metadata-only rewrite (the data key stays): the record is kept as it is.
    let r = sb
        .run(
            Tool::Sepal,
            Identity::Key1,
            &["rotate", "-i", "--add-age", &common::keys().age2, &file],
        )
        .unwrap();
    assert!(r.ok(), "rotate --add-age: {}", r.describe());
    let r = sb
        .run(
            Tool::Sepal,
            Identity::Key1,
            &[
                "groups",
                "add",
                "-f",
                &file,
                "-i",
                "--age",
                &common::keys().age2,
            ],
        )
        .unwrap();
    assert!(r.ok(), "groups add: {}", r.describe());
    // The second identity alone opens the file (its own group) and gets the exact bytes.
    let r = sb
        .run(Tool::Sepal, Identity::Key2, &["decrypt", &file])
        .unwrap();
    assert!(r.ok(), "decrypt with key2: {}", r.describe());
    assert_eq!(String::from_utf8_lossy(&r.stdout), plain);
}

#[test]
fn a_record_that_does_not_fit_is_ignored() {
    let sb = Sandbox::new();
    let (a, plain_a, _) = LOSSY[0];
    let (b, plain_b, _) = LOSSY[2];
    let enc_a = encrypt(&sb, a, plain_a);
    let enc_b = encrypt(&sb, b, plain_b);
    let record = |enc: &str| {
        enc.lines()
            .find(|l| l.trim_start().starts_with("sepal_layout:"))
            .map(str::to_string)
            .expect("a record")
    };
    // b's record (another data key, another text) in a's file: a decrypts as without a record.
    let swapped = enc_a.replace(&record(&enc_a), &record(&enc_b));
    sb.write("swapped.yaml", &swapped);
    let stripped: String = enc_a
        .lines()
        .filter(|l| !l.trim_start().starts_with("sepal_layout:"))
        .map(|l| format!("{l}\n"))
        .collect();
    sb.write("stripped.yaml", &stripped);
    let without = decrypt(&sb, Tool::Sepal, "stripped.yaml");
    assert_ne!(
        without,
        plain_a.as_bytes(),
        "the splice alone is lossy here"
    );
    assert_eq!(decrypt(&sb, Tool::Sepal, "swapped.yaml"), without);
}

#[test]
fn lossy_files_with_sops() {
    Part::WithSops.start("layout_record::lossy_files_with_sops");
    let sb = Sandbox::new();
    let mut f = Failures::default();
    for (name, plain, _) in LOSSY {
        encrypt(&sb, name, plain);
        let file = format!("enc-{name}");
        // sops reads the values (MAC checked) and ignores the record.
        let r = sb
            .run(Tool::Sops, Identity::Key1, &["decrypt", &file])
            .unwrap();
        if !r.ok() {
            f.add(format!("{name}: sops decrypt: {}", r.describe()));
            continue;
        }
        let fmt = common::format_of(name);
        let ours = sb.write(&format!("sepal-{name}"), plain);
        let theirs = sb.write(&format!("sops-{name}"), &r.stdout);
        match (
            common::doc_json("plain", fmt, &ours),
            common::doc_json("plain", fmt, &theirs),
        ) {
            (Ok(a), Ok(b)) if a == b => {}
            (a, b) => f.add(format!("{name}: sops reads other data: {a:?} / {b:?}")),
        }
        // A file sops rewrote has no record; sepal decrypts it (the splice's spelling).
        let path = if fmt == "ini" {
            r#"["s"]["added"]"#
        } else {
            r#"["added"]"#
        };
        let r = sb
            .run(Tool::Sops, Identity::Key1, &["set", &file, path, r#""x""#])
            .unwrap();
        if !r.ok() {
            f.add(format!("{name}: sops set: {}", r.describe()));
            continue;
        }
        let rewritten = std::fs::read_to_string(sb.join(&file)).unwrap_or_default();
        if rewritten.contains("sepal_layout") {
            f.add(format!("{name}: sops kept the record"));
        }
        let r = sb
            .run(Tool::Sepal, Identity::Key1, &["decrypt", &file])
            .unwrap();
        if !r.ok() {
            f.add(format!(
                "{name}: sepal decrypt after sops set: {}",
                r.describe()
            ));
        }
    }
    f.finish("layout_record::lossy_files_with_sops");
}

/// A multi-document YAML file carries its record once, in the last document's `sops` entry, not
/// in every document; sepal gives the exact bytes back.
#[test]
fn a_multi_document_file_carries_the_record_once() {
    let sb = Sandbox::new();
    let plain = "a: >\n  tango\n  uniform\n---\nb: victor\n---\nc: >\n  whiskey\n  xray\n";
    let enc = encrypt(&sb, "multi.yaml", plain);
    assert_eq!(enc.matches("sepal_layout").count(), 1, "{enc}");
    let last_doc_start = enc.rfind("\n---").unwrap_or(0);
    assert!(enc[last_doc_start..].contains("sepal_layout"));
    assert_eq!(
        enc.matches("\nsops:").count() + usize::from(enc.starts_with("sops:")),
        3
    );
    assert_eq!(
        decrypt(&sb, Tool::Sepal, "enc-multi.yaml"),
        plain.as_bytes()
    );
}

/// A stream whose record is in its first document's `sops` entry, where sepal wrote it before it
/// wrote it in the last document's, is still given back byte for byte.
#[test]
fn a_record_in_the_first_document_is_still_read() {
    let sb = Sandbox::new();
    let plain = "a: >\n  tango\n  uniform\n---\nb: victor\n---\nc: >\n  whiskey\n  xray\n";
    let enc = encrypt(&sb, "multi.yaml", plain);
    let line = enc
        .lines()
        .find(|l| l.trim_start().starts_with("sepal_layout:"))
        .expect("a record")
        .to_string();
    let moved = enc.replacen(&format!("{line}\n"), "", 1).replacen(
        "\nsops:\n",
        &format!("\nsops:\n{line}\n"),
        1,
    );
    let first_doc_end = moved.find("\n---").expect("three documents");
    assert!(moved[..first_doc_end].contains("sepal_layout"), "{moved}");
    assert_eq!(moved.matches("sepal_layout").count(), 1, "{moved}");
    sb.write("old-multi.yaml", &moved);
    assert_eq!(
        decrypt(&sb, Tool::Sepal, "old-multi.yaml"),
        plain.as_bytes()
    );
}

#[test]
fn a_multi_document_file_with_sops() {
    Part::WithSops.start("layout_record::a_multi_document_file_with_sops");
    let sb = Sandbox::new();
    let plain = "a: >\n  tango\n  uniform\n---\nb: victor\n---\nc: >\n  whiskey\n  xray\n";
    encrypt(&sb, "multi.yaml", plain);
    let out = decrypt(&sb, Tool::Sops, "enc-multi.yaml");
    let text = String::from_utf8(out).unwrap_or_default();
    for word in ["tango uniform", "victor", "whiskey xray"] {
        assert!(text.contains(word), "{word} in {text}");
    }
}

/// A value left in clear that looks like a ciphertext (under `--unencrypted-suffix`), in a file
/// that needs a record: the output's check reads the `ENC[...]` values where they are in the
/// output, and puts back the one the encryption left as it was before the record is made from
/// that reading, so the file comes back byte for byte.
#[test]
fn a_clear_value_that_looks_encrypted_comes_back_through_the_record() {
    let sb = Sandbox::new();
    let clear = "ENC[AES256_GCM,data:abc=,iv:def=,tag:ghi=,type:str]";
    let plain = format!("a: &x tango\nkey_pub: {clear}\nb: *x\nc: [1, 2]\n");
    let flags = ["--unencrypted-suffix", "_pub"];
    let enc = sb.encrypt_for_key1_with(Tool::Sepal, "pub.yaml", &plain, "enc-pub.yaml", &flags);
    let enc = String::from_utf8(enc).expect("utf-8");
    assert!(enc.contains(&format!("key_pub: {clear}\n")), "{enc}");
    assert!(enc.contains("sepal_layout"), "{enc}");
    assert!(!enc.contains("tango"), "{enc}");
    assert_eq!(decrypt(&sb, Tool::Sepal, "enc-pub.yaml"), plain.as_bytes());
}
