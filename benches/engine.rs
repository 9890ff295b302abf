//! In-process benchmark of the engine: parse, encrypt, splice, and the reverse, on generated
//! JSON and YAML files of 10,000 leaves. `cargo bench` prints the median of several runs.
//! The whole-process comparison with the real sops is `benches/compare.py`.

use std::time::{Duration, Instant};

use sepal::crypto::DataKey;
use sepal::stores::{Format, Store, StoreOptions};
use sepal::walk::{decrypt_tree, encrypt_tree, Selection, Stash};

fn generate(format: Format, leaves: usize) -> Vec<u8> {
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

fn bench(format: Format, leaves: usize) {
    let store = Store::new(format, StoreOptions::default());
    let src = generate(format, leaves);
    let key = DataKey::generate();
    let sel = Selection::default();
    let mut enc_times = Vec::new();
    let mut dec_times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let parsed = store.parse(&src).expect("generated input parses");
        let r =
            encrypt_tree(&parsed.tree, &key, &sel, false, &mut Stash::default()).expect("encrypts");
        let enc = store.splice(&parsed, &r.changes, None).expect("splices");
        enc_times.push(t.elapsed());

        let t = Instant::now();
        let parsed = store.parse(&enc).expect("encrypted output parses");
        let r =
            decrypt_tree(&parsed.tree, &key, &sel, false, &mut Stash::default()).expect("decrypts");
        let dec = store.splice(&parsed, &r.changes, None).expect("splices");
        dec_times.push(t.elapsed());
        assert_eq!(dec, src);
    }
    println!(
        "{:>6} {:>7} leaves: encrypt {:>8.2} ms, decrypt {:>8.2} ms (median of 7)",
        format.name(),
        leaves,
        median(enc_times).as_secs_f64() * 1e3,
        median(dec_times).as_secs_f64() * 1e3
    );
}

fn main() {
    for format in [Format::Json, Format::Yaml] {
        for leaves in [100, 10_000] {
            bench(format, leaves);
        }
    }
}
