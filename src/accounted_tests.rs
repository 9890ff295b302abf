//! The accounted-for property, for every store: on real-looking files with text inserted where
//! parsers are weakest (structure characters, line breaks, quotes, a plaintext marker), either
//! encryption refuses the file, or its output passes the accounted-for check, holds the marker
//! only inside a key, and decrypts to the same data as the input.

use proptest::prelude::*;

use crate::fuzzing::{encrypt_accounted, Outcome};
use crate::stores::Format;

const MARKER: &str = "Zq9PLAINq9Z";

const FORMATS: [Format; 6] = [
    Format::Yaml,
    Format::Json,
    Format::Ini,
    Format::Dotenv,
    Format::Toml,
    Format::Binary,
];

/// Seeds per format: the lossless corpus and the plaintext fixtures.
fn seeds(format: Format) -> Vec<&'static str> {
    match format {
        Format::Yaml => vec![
            include_str!("../fixtures/roundtrip/anchors.yaml"),
            include_str!("../fixtures/roundtrip/blocks.yaml"),
            include_str!("../fixtures/roundtrip/comments.yaml"),
            include_str!("../fixtures/roundtrip/flow.yaml"),
            include_str!("../fixtures/roundtrip/multidoc.yaml"),
            include_str!("../fixtures/roundtrip/quoting.yaml"),
            include_str!("../fixtures/plain/edge.yaml"),
        ],
        Format::Json => vec![
            include_str!("../fixtures/roundtrip/compact.json"),
            include_str!("../fixtures/roundtrip/escapes.json"),
            include_str!("../fixtures/roundtrip/numbers.json"),
            include_str!("../fixtures/plain/edge.json"),
        ],
        Format::Ini => vec![
            include_str!("../fixtures/roundtrip/aligned.ini"),
            include_str!("../fixtures/roundtrip/sections.ini"),
            include_str!("../fixtures/plain/basic.ini"),
            "[s]\na = \"\"\"x\ny\"\"\" ; c\nb = `q`\nc = v \\\n  w\n\"k\" = 1\n",
        ],
        Format::Dotenv => vec![
            include_str!("../fixtures/roundtrip/comments.env"),
            include_str!("../fixtures/plain/basic.env"),
        ],
        Format::Toml => vec![
            "# c\na = \"x\" # d\nb = 0x1F\nc = [1.5, 'lit', \"\"\"m\nl\"\"\"]\n[t]\nd = 1979-05-27T07:32:00Z\ne = { f = true }\n[[arr]]\ng = \"h\"\n",
        ],
        Format::Binary => vec!["plain text\n", "{\"data\": \"x\"}\n"],
    }
}

/// Insertions that parsers tend to mishandle.
const PIECES: &[&str] = &[
    MARKER, "\n", "\r", "\r\n", "]", "[", "\"\"\"", "`", "{", "}", ",", ":", "=", "#", ";",
    "---\n", "...\n", "&a ", "*a", "|\n", "\\\n", "'", "\"", " ", "- ", "sops:", "<<: ",
];

fn mutated(format: Format) -> impl Strategy<Value = String> {
    let seeds = seeds(format);
    let n = seeds.len();
    (
        0..n,
        prop::collection::vec((any::<prop::sample::Index>(), 0..PIECES.len()), 1..6),
    )
        .prop_map(move |(i, edits)| {
            let mut s = seeds[i].to_string();
            for (at, piece) in edits {
                let mut pos = at.index(s.len() + 1);
                while !s.is_char_boundary(pos) {
                    pos -= 1;
                }
                s.insert_str(pos, PIECES[piece]);
            }
            // The marker after a blank, so it lands in a value, a comment or a key.
            let at = s.len() / 2;
            let mut pos = at;
            while !s.is_char_boundary(pos) {
                pos -= 1;
            }
            if let Some(nl) = s[pos..].find(['=', ':', ' ']).map(|p| p + pos + 1) {
                s.insert_str(nl, MARKER);
            }
            s
        })
}

/// The property: [`encrypt_accounted`] panics when it does not hold.
fn check(format: Format, input: &str) -> Result<(), TestCaseError> {
    encrypt_accounted(format, input.as_bytes(), Some(MARKER));
    Ok(())
}

#[test]
fn seeds_encrypt_and_pass_the_check() {
    for f in FORMATS {
        for (i, s) in seeds(f).iter().enumerate() {
            assert_eq!(
                encrypt_accounted(f, s.as_bytes(), None),
                Outcome::Encrypted,
                "{} seed {i}",
                f.name()
            );
        }
    }
}

#[test]
fn reproducers_are_refused_or_encrypted_whole() {
    let cases: &[(Format, &str)] = &[
        (
            Format::Json,
            "{\"user\": \"admin\"}\n{\"password\": \"Zq9PLAINq9Z\"}\n",
        ),
        (Format::Ini, "[db] password = Zq9PLAINq9Z\nuser = admin\n"),
        (Format::Ini, "[db]\rpassword = Zq9PLAINq9Z\r"),
        (Format::Ini, "a = \"\"\"x\"\"\" Zq9PLAINq9Z\n"),
        (Format::Ini, "[s]\n\"k\" Zq9PLAINq9Z = v\n"),
    ];
    for (f, s) in cases {
        assert_ne!(
            encrypt_accounted(*f, s.as_bytes(), Some(MARKER)),
            Outcome::Encrypted,
            "{} reproducer {s:?}",
            f.name()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn yaml_accounted(input in mutated(Format::Yaml)) { check(Format::Yaml, &input)?; }

    #[test]
    fn json_accounted(input in mutated(Format::Json)) { check(Format::Json, &input)?; }

    #[test]
    fn ini_accounted(input in mutated(Format::Ini)) { check(Format::Ini, &input)?; }

    #[test]
    fn dotenv_accounted(input in mutated(Format::Dotenv)) { check(Format::Dotenv, &input)?; }

    #[test]
    fn toml_accounted(input in mutated(Format::Toml)) { check(Format::Toml, &input)?; }

    #[test]
    fn binary_accounted(input in mutated(Format::Binary)) { check(Format::Binary, &input)?; }
}

/// Inputs the fuzzers found interesting (`fuzz/regressions/<target>/`), replayed through the
/// same checks as the fuzz targets.
#[test]
fn fuzz_regressions_replay() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    for f in FORMATS {
        let dir = root.join(f.name());
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut n = 0;
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let data = std::fs::read(&path).expect("a regression input");
            crate::fuzzing::parse_and_splice(f, &data);
            encrypt_accounted(f, &data, None);
            if f == Format::Yaml {
                crate::fuzzing::yaml_readback_agrees(&data);
                crate::fuzzing::yaml_fast_reading_agrees(&data);
                crate::fuzzing::libyaml_builds_agree(&data);
            }
            if f == Format::Json {
                crate::fuzzing::json_halves_agree(&data);
                crate::fuzzing::json_lean_agrees(&data);
            }
            if matches!(f, Format::Json | Format::Yaml) {
                crate::fuzzing::lending_agrees(f, &data);
            }
            n += 1;
        }
        assert!(n > 0, "no regression inputs in {}", dir.display());
    }
    // The layout record target: input split at NUL bytes, as in fuzz_targets/layout_record.rs.
    let dir = root.join("layout_record");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let data = std::fs::read(entry.expect("a directory entry").path()).expect("an input");
        let mut parts = data.splitn(3, |&b| b == 0);
        let payload = parts.next().unwrap_or_default();
        let spliced = parts.next().unwrap_or_default();
        let original = parts.next().unwrap_or_default();
        crate::fuzzing::layout_record_payload(payload, spliced, original);
    }
}
