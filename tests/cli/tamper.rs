//! Tampering: files encrypted by sepal and by sops, then damaged. sepal must refuse each with the
//! exit code sops uses, print nothing on stdout and no secret value on stderr. The real sops is
//! run on the same damaged files and must agree on the exit code (which keeps the expected codes
//! honest): for sepal's files in `sepal_files_with_sops` (`sepal_files` needs no sops), for sops's
//! files in `sops_files`.

use regex::Regex;

use crate::common::{self, clip, Failures, Identity, Part, Sandbox, Tool};

const SECRETS: [&str; 2] = ["alpha-S3CRET-7f1e", "beta-S3CRET-4c2d"];

struct Format {
    file: &'static str,
    plain: &'static str,
    /// How the emptied MAC is written.
    empty_mac: &'static str,
    /// How the public value is written (to change it).
    public: &'static str,
}

const FORMATS: &[Format] = &[
    Format {
        file: "t.json",
        plain: "{\n\t\"alpha\": \"alpha-S3CRET-7f1e\",\n\t\"beta\": \"beta-S3CRET-4c2d\",\n\t\"note_unencrypted\": \"public\",\n\t\"n\": 7\n}\n",
        empty_mac: "",
        public: "\"public\"",
    },
    Format {
        file: "t.yaml",
        plain: "alpha: alpha-S3CRET-7f1e\nbeta: beta-S3CRET-4c2d\nnote_unencrypted: public\nn: 7\n",
        empty_mac: "\"\"",
        public: ": public",
    },
    Format {
        file: "t.env",
        plain: "alpha=alpha-S3CRET-7f1e\nbeta=beta-S3CRET-4c2d\nnote_unencrypted=public\nn=7\n",
        empty_mac: "",
        public: "=public",
    },
    Format {
        file: "t.ini",
        plain: "[s]\nalpha = alpha-S3CRET-7f1e\nbeta = beta-S3CRET-4c2d\nnote_unencrypted = public\nn = 7\n",
        empty_mac: "",
        public: "= public",
    },
];

fn enc_re() -> Regex {
    Regex::new(r"ENC\[AES256_GCM,data:([^,]*),iv:[^,]*,tag:[^,]*,type:[a-z]+\]").unwrap()
}

/// The `ENC[...]` on the line of key `key` (first line whose trimmed text starts with the key,
/// optionally quoted or `sops_`-prefixed, followed by a separator).
fn enc_of(text: &str, key: &str) -> (usize, usize) {
    let re = enc_re();
    let key_re = Regex::new(&format!(r#"^\s*"?(sops_)?{key}"?\s*[:=]"#)).unwrap();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if key_re.is_match(line) {
            if let Some(m) = re.find(line) {
                return (offset + m.start(), offset + m.end());
            }
        }
        offset += line.len();
    }
    panic!("no ENC value for {key} in:\n{text}");
}

/// The damaged variants of an encrypted file, with the exit code sops gives.
fn tampered(fmt: &Format, text: &str) -> Vec<(&'static str, String, i32)> {
    let mut out = Vec::new();
    // A flipped ciphertext byte (the first base64 digit of alpha's data).
    let (s, e) = enc_of(text, "alpha");
    let enc = &text[s..e];
    let data_at = s + enc.find("data:").unwrap() + 5;
    let c = text.as_bytes()[data_at];
    let flipped = if c == b'A' { "B" } else { "A" };
    out.push((
        "flipped ciphertext byte",
        format!("{}{}{}", &text[..data_at], flipped, &text[data_at + 1..]),
        25,
    ));
    // alpha's and beta's ciphertexts swapped.
    let (bs, be) = enc_of(text, "beta");
    let (a, b) = (&text[s..e], &text[bs..be]);
    out.push((
        "two values swapped",
        format!("{}{}{}{}{}", &text[..s], b, &text[e..bs], a, &text[be..]),
        25,
    ));
    // The MAC emptied.
    let (ms, me) = enc_of(text, "mac");
    out.push((
        "MAC removed",
        format!("{}{}{}", &text[..ms], fmt.empty_mac, &text[me..]),
        51,
    ));
    // A value replaced by plaintext.
    out.push((
        "value replaced by plaintext",
        format!("{}intruder-value{}", &text[..s], &text[e..]),
        25,
    ));
    // The unencrypted value changed (MAC mismatch).
    assert!(
        text.contains(fmt.public),
        "{} lacks {:?}",
        fmt.file,
        fmt.public
    );
    out.push((
        "unencrypted value changed",
        text.replacen(fmt.public, &fmt.public.replace("public", "publik"), 1),
        51,
    ));
    out
}

fn check_refusal(
    f: &mut Failures,
    sb: &Sandbox,
    tool: Tool,
    id: Identity,
    what: &str,
    path: &str,
    want: i32,
) {
    let r = sb.run(tool, id, &["decrypt", path]).expect("a run");
    if tool == Tool::Sops {
        if r.code != want {
            f.add(format!(
                "{what}: the real sops exits {} (the test expects {want}): {}",
                r.code,
                clip(&r.stderr_text(), 300)
            ));
        }
        return;
    }
    let err = r.stderr_text();
    if r.code != want {
        f.add(format!(
            "{what}: sepal exits {} instead of {want}: {}",
            r.code,
            clip(&err, 400)
        ));
    }
    if !r.stdout.is_empty() {
        f.add(format!(
            "{what}: sepal printed on stdout: {:?}",
            clip(&String::from_utf8_lossy(&r.stdout), 300)
        ));
    }
    for s in SECRETS {
        if err.contains(s) {
            f.add(format!(
                "{what}: sepal's stderr reveals the secret {s:?}: {}",
                clip(&err, 400)
            ));
        }
    }
}

/// Files made by `producer`, damaged, then refused by the checkers of `part` (`SepalAlone`:
/// sepal; `WithSops`: sops, and sepal too on sops's files).
fn run_for(producer: Tool, part: Part) {
    let test = match part {
        Part::SepalAlone => format!("tamper::{}_files", producer.name()),
        Part::WithSops => format!("tamper::{}_files_with_sops", producer.name()),
    };
    part.start(&test);
    let checkers: Vec<Tool> = part
        .tools()
        .iter()
        .copied()
        .filter(|&t| part.covers(&[producer, t]))
        .collect();
    let mut f = Failures::default();
    for fmt in FORMATS {
        let sb = Sandbox::new();
        sb.write(fmt.file, fmt.plain);
        let k = common::keys();
        let enc = sb
            .run(
                producer,
                Identity::Key1,
                &["encrypt", "--age", &k.age1, fmt.file],
            )
            .unwrap();
        if !enc.ok() {
            f.add(format!(
                "{}: {} could not encrypt: {}",
                fmt.file,
                producer.name(),
                enc.describe()
            ));
            continue;
        }
        let text = String::from_utf8(enc.stdout).expect("utf-8");
        // The untouched file decrypts (else the damage checks mean nothing).
        let ok_path = sb.write(&format!("ok/{}", fmt.file), &text);
        let r = sb
            .run(
                Tool::Sepal,
                Identity::Key1,
                &["decrypt", &ok_path.to_string_lossy()],
            )
            .unwrap();
        if !r.ok() {
            f.add(format!(
                "{}: sepal cannot decrypt the undamaged file: {}",
                fmt.file,
                r.describe()
            ));
            continue;
        }
        for (i, (what, damaged, code)) in tampered(fmt, &text).into_iter().enumerate() {
            let p = sb.write(&format!("d{i}/{}", fmt.file), damaged);
            let p = p.to_string_lossy().into_owned();
            let what = format!("{} ({}): {what}", fmt.file, producer.name());
            for &tool in &checkers {
                check_refusal(&mut f, &sb, tool, Identity::Key1, &what, &p, code);
            }
        }
        let what = format!("{} ({}): wrong age key", fmt.file, producer.name());
        let p = ok_path.to_string_lossy().into_owned();
        for &tool in &checkers {
            check_refusal(&mut f, &sb, tool, Identity::Key2, &what, &p, 128);
        }
    }
    f.finish(&test);
}

#[test]
fn sepal_files() {
    run_for(Tool::Sepal, Part::SepalAlone);
}

#[test]
fn sepal_files_with_sops() {
    run_for(Tool::Sepal, Part::WithSops);
}

#[test]
fn sops_files() {
    run_for(Tool::Sops, Part::WithSops);
}
