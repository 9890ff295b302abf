//! In-process benchmark of the engine, stage by stage (parse, cipher walk, splice, output check,
//! and the reverse), on generated JSON, YAML and TOML files of 100 to 200,000 leaves, and YAML
//! with an anchor on every map and on one value in ten (`yaml-anchors`: the fast reading and the
//! event-by-event read-back take anchors since the thirteenth performance round; a file with
//! them took four times as long before): a change that slows one stage shows in its own line.
//! `cargo bench` prints the median of 7 runs.
//! The whole-process comparison with the real sops is `benches/compare.py`.

use std::time::{Duration, Instant};

use sepal::crypto::DataKey;
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

/// The stages of an encryption and a decryption, timed one by one.
const STAGES: [&str; 8] = [
    "parse plaintext",
    "encrypt walk",
    "splice ciphertexts",
    "own reading",
    "independent reading",
    "parse encrypted",
    "decrypt walk",
    "splice + read back",
];

fn time<T>(times: &mut [Vec<Duration>], stage: usize, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    times[stage].push(t.elapsed());
    out
}

fn bench(format: Format, leaves: usize, anchors: bool) {
    let store = Store::new(format, StoreOptions::default());
    let src = generate(format, leaves, anchors);
    let key = DataKey::generate();
    let sel = Selection::default();
    let metadata = sepal::fuzzing::test_metadata(&sel).to_value();
    let mut times = vec![Vec::new(); STAGES.len()];
    for _ in 0..7 {
        let parsed = time(&mut times, 0, || {
            store.parse(&src).expect("generated input parses")
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
        let parsed = time(&mut times, 5, || {
            store.parse(&enc).expect("encrypted output parses")
        });
        let r = time(&mut times, 6, || {
            decrypt_tree(&parsed.tree, &key, &sel, false, &mut Stash::off()).expect("decrypts")
        });
        let dec = time(&mut times, 7, || {
            store
                .splice_plain(&parsed, &r.changes, None)
                .expect("splices")
        });
        assert_eq!(dec, src);
    }
    let medians: Vec<f64> = times
        .into_iter()
        .map(|t| median(t).as_secs_f64() * 1e3)
        .collect();
    println!(
        "{:>12} {:>7} leaves: encrypt {:>8.2} ms, decrypt {:>8.2} ms (median of 7 per stage)",
        if anchors {
            "yaml-anchors"
        } else {
            format.name()
        },
        leaves,
        medians[..5].iter().sum::<f64>(),
        medians[5..].iter().sum::<f64>(),
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
    let formats = ["json", "yaml", "toml", "yaml-anchors"];
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
}
