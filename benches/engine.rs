//! In-process benchmark of the engine, stage by stage (parse, cipher walk, splice, output check,
//! and the reverse), on generated JSON, YAML and TOML files of 100 to 200,000 leaves, and YAML
//! with an anchor on every map and on one value in ten (`yaml-anchors`: the fast reading and the
//! event-by-event read-back take anchors since the thirteenth performance round; a file with
//! them took four times as long before): a change that slows one stage shows in its own line.
//! A real file too (`argo`: argo-cd's `install.yaml` from the corpus, 59 documents, which needs a
//! layout record: its making is one more stage).
//! `cargo bench` prints the median of 7 runs.
//! The whole-process comparison with the real sops is `benches/compare.py`.

use std::time::{Duration, Instant};

use sepal::crypto::DataKey;
use sepal::ops::layout_record;
use sepal::stores::{Format, Store, StoreOptions};
use sepal::verify::{self, Allowed};
use sepal::walk::{decrypt_tree, encrypt_tree, Selection, Stash};

fn generate(format: Format, leaves: usize, anchors: bool) -> Vec<u8> {
    let mut out = String::new();
    let groups = leaves / 10;
    match format {
        Format::Json => {
            out.push_str("{\n");
            for g in 0..groups {
                out.push_str(&format!("  \"group{g}\": {{\n"));
                for f in 0..10 {
                    let comma = if f < 9 { "," } else { "" };
                    out.push_str(&format!(
                        "    \"field{f}\": \"value {g} {f} with text\"{comma}\n"
                    ));
                }
                let comma = if g + 1 < groups { "," } else { "" };
                out.push_str(&format!("  }}{comma}\n"));
            }
            out.push_str("}\n");
        }
        Format::Toml => {
            for g in 0..groups {
                out.push_str(&format!("[group{g}]\n"));
                for f in 0..10 {
                    out.push_str(&format!("field{f} = \"value {g} {f} with text\"\n"));
                }
            }
        }
        _ if anchors => {
            for g in 0..groups {
                out.push_str(&format!("group{g}: &group{g}\n"));
                out.push_str(&format!("  field0: &value{g} value {g} 0 with text\n"));
                for f in 1..10 {
                    out.push_str(&format!("  field{f}: value {g} {f} with text\n"));
                }
            }
        }
        _ => {
            for g in 0..groups {
                out.push_str(&format!("group{g}:\n"));
                for f in 0..10 {
                    out.push_str(&format!("  field{f}: value {g} {f} with text\n"));
                }
            }
        }
    }
    out.into_bytes()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The stages of an encryption and a decryption, timed one by one (the record's making counts
/// with the encryption).
const STAGES: [&str; 9] = [
    "parse plaintext",
    "encrypt walk",
    "splice ciphertexts",
    "own reading",
    "independent reading",
    "layout record",
    "parse encrypted",
    "decrypt walk",
    "splice + read back",
];

/// Where the decryption's stages begin in [`STAGES`].
const DECRYPT_FROM: usize = 6;

fn time<T>(times: &mut [Vec<Duration>], stage: usize, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    times[stage].push(t.elapsed());
    out
}

fn bench(format: Format, leaves: usize, anchors: bool) {
    let src = generate(format, leaves, anchors);
    let name = if anchors {
        "yaml-anchors"
    } else {
        format.name()
    };
    bench_file(format, &src, &format!("{name:>12} {leaves:>7} leaves"));
}

/// The stages on `src`, a plaintext file of `format`, reported under `label`.
fn bench_file(format: Format, src: &[u8], label: &str) {
    let store = Store::new(format, StoreOptions::default());
    let key = DataKey::generate();
    let sel = Selection::default();
    let metadata = sepal::fuzzing::test_metadata(&sel).to_value();
    let mut times = vec![Vec::new(); STAGES.len()];
    for _ in 0..7 {
        let parsed = time(&mut times, 0, || {
            store.parse(src).expect("the input parses")
        });
        let r = time(&mut times, 1, || {
            encrypt_tree(&parsed.tree, &key, &sel, false, &mut Stash::default()).expect("encrypts")
        });
        // With a `sops` entry, as an encryption writes it (without one the own reading refuses
        // the output, after reading it a second time in full to say where).
        let enc = time(&mut times, 2, || {
            store
                .splice(&parsed, &r.changes, Some(&metadata))
                .expect("splices")
        });
        let allowed = Allowed::from_changes(&parsed.tree, &r.changes);
        time(&mut times, 3, || {
            verify::own_reading_of(format, &enc, &allowed)
                .map(|_| ())
                .expect("every value encrypted")
        });
        time(&mut times, 4, || {
            verify::independent_reading(format, &enc, &allowed).expect("every value encrypted")
        });
        let parsed = time(&mut times, 6, || {
            store.parse(&enc).expect("encrypted output parses")
        });
        let r = time(&mut times, 7, || {
            decrypt_tree(&parsed.tree, &key, &sel, false, &mut Stash::off()).expect("decrypts")
        });
        let dec = time(&mut times, 8, || {
            store
                .splice_plain(&parsed, &r.changes, None)
                .expect("splices")
        });
        // The record made from what decrypting the output without one gives, as the check
        // makes it.
        let record = time(&mut times, 5, || layout_record::make(&dec, src, &key));
        match &record {
            None => assert_eq!(dec, src),
            Some(record) => {
                let back = layout_record::apply(record, &dec, &key).expect("the record applies");
                assert_eq!(back.as_slice(), src);
            }
        }
    }
    let medians: Vec<f64> = times
        .into_iter()
        .map(|t| median(t).as_secs_f64() * 1e3)
        .collect();
    println!(
        "{label}: encrypt {:>8.2} ms, decrypt {:>8.2} ms (median of 7 per stage)",
        medians[..DECRYPT_FROM].iter().sum::<f64>(),
        medians[DECRYPT_FROM..].iter().sum::<f64>(),
    );
    for (stage, ms) in STAGES.iter().zip(&medians) {
        println!("    {stage:<20} {ms:>8.2} ms");
    }
}

/// `cargo bench -- yaml 200000` runs only the cases whose format or size is named (cargo's own
/// `--bench` flag is ignored).
fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let named = |s: &str, all: &[&str]| {
        wanted.iter().all(|w| !all.contains(&w.as_str())) || wanted.iter().any(|w| w == s)
    };
    let formats = ["json", "yaml", "toml", "yaml-anchors", "argo"];
    let sizes = ["100", "10000", "200000"];
    let cases = [
        (Format::Json, false),
        (Format::Yaml, false),
        (Format::Toml, false),
        (Format::Yaml, true),
    ];
    for (format, anchors) in cases {
        let name = if anchors {
            "yaml-anchors"
        } else {
            format.name()
        };
        for leaves in [100, 10_000, 200_000] {
            if named(name, &formats) && named(&leaves.to_string(), &sizes) {
                bench(format, leaves, anchors);
            }
        }
    }
    if named("argo", &formats) && wanted.iter().all(|w| !sizes.contains(&w.as_str())) {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/corpus/plain/yaml/argoproj__argo-cd__manifests__install.yaml"
        );
        let src = std::fs::read(path).expect("the corpus holds argo-cd's install.yaml");
        bench_file(Format::Yaml, &src, "argo-cd install.yaml");
    }
}
