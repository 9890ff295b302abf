//! Inputs large enough for `encrypt` and `decrypt` to map them instead of reading them
//! (`src/filebytes.rs`): the same bytes out as for a small file, in place as to standard output,
//! and the file replaced in place leaves the mapping of the one it replaced whole.

use crate::common::{keys, Identity, Sandbox, Tool};

/// A JSON and a YAML file of `n` string and number values, over 128 KiB from about 3,000.
fn files(n: usize) -> [(&'static str, String); 2] {
    let mut json = String::from("{\n");
    let mut yaml = String::new();
    for i in 0..n {
        let sep = if i + 1 == n { "" } else { "," };
        json.push_str(&format!(
            "  \"key_{i}\": {{\"name\": \"value number {i} with some text\", \"port\": {i}}}{sep}\n"
        ));
        yaml.push_str(&format!(
            "key_{i}:\n  name: value number {i} with some text # note {i}\n  port: {i}\n"
        ));
    }
    json.push_str("}\n");
    [("big.json", json), ("big.yaml", yaml)]
}

#[test]
fn a_large_file_round_trips_to_its_exact_bytes_in_place_and_to_standard_output() {
    let sb = Sandbox::new();
    for (name, plain) in files(4_000) {
        assert!(
            plain.len() >= 128 * 1024,
            "{name} is large enough to be mapped"
        );
        sb.write(name, &plain);
        let enc = sb
            .run(
                Tool::Sepal,
                Identity::Key1,
                &["encrypt", "--age", &keys().age1, name],
            )
            .unwrap();
        assert!(enc.ok(), "{}", enc.describe());
        assert!(enc.stdout.len() > plain.len());
        // In place: the file mapped is the one replaced.
        let inplace = sb
            .run(
                Tool::Sepal,
                Identity::Key1,
                &["encrypt", "-i", "--age", &keys().age1, name],
            )
            .unwrap();
        assert!(inplace.ok(), "{}", inplace.describe());
        let on_disk = std::fs::read(sb.join(name)).unwrap();
        assert!(on_disk.windows(4).any(|w| w == b"ENC["), "{name}");
        let dec = sb
            .run(Tool::Sepal, Identity::Key1, &["decrypt", name])
            .unwrap();
        assert!(dec.ok(), "{}", dec.describe());
        assert!(
            dec.stdout == plain.as_bytes(),
            "{name}: decrypted bytes differ"
        );
        let back = sb
            .run(Tool::Sepal, Identity::Key1, &["decrypt", "-i", name])
            .unwrap();
        assert!(back.ok(), "{}", back.describe());
        assert!(
            std::fs::read(sb.join(name)).unwrap() == plain.as_bytes(),
            "{name}"
        );
    }
}
