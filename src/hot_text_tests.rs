//! `src/hot-text.ld` checked against the code: the linker script that `build.rs` gives optimised
//! builds lists the functions a usual run executes (written by `benches/hot_text.py`). A sepal
//! function renamed or removed silently drops out of it, and its code goes back among the cold
//! code; this test names the ones that did, so that the script is written again.

use std::path::{Path, PathBuf};

const SCRIPT: &str = "src/hot-text.ld";

fn script() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCRIPT);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The section patterns of the script (`*(.text.<pattern> .text.unlikely.<pattern>)`).
fn patterns(script: &str) -> Vec<&str> {
    script
        .lines()
        .filter_map(|l| {
            let both = l.trim().strip_prefix("*(.text.")?.strip_suffix(')')?;
            let (pattern, unlikely) = both.split_once(" .text.unlikely.")?;
            (pattern == unlikely).then_some(pattern)
        })
        .collect()
}

/// The path of a plain function of the sepal crate, from its legacy-mangled pattern
/// (`_ZN5sepal3ops4open17parse_and_decrypt17h*` → `["ops", "open", "parse_and_decrypt"]`), or
/// `None` for anything else (another crate, a trait method, a closure, a generic instance).
fn sepal_path(pattern: &str) -> Option<Vec<&str>> {
    let mut rest = pattern.strip_prefix("_ZN")?.strip_suffix("17h*")?;
    let mut segments = Vec::new();
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let len: usize = rest.get(..digits)?.parse().ok()?;
        let ident = rest.get(digits..digits + len)?;
        if !ident
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return None;
        }
        segments.push(ident);
        rest = &rest[digits + len..];
    }
    (segments.first() == Some(&"sepal") && segments.len() > 2).then(|| segments.split_off(1))
}

/// The deepest module file of `path`'s leading segments that exists (`src/a/b.rs`,
/// `src/a/b/mod.rs`, or for the crate root `src/lib.rs`).
fn module_file(path: &[&str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = src.join("lib.rs");
    let mut dir = src;
    for segment in &path[..path.len() - 1] {
        let file = dir.join(format!("{segment}.rs"));
        let module = dir.join(segment).join("mod.rs");
        if file.is_file() {
            found = file;
        } else if module.is_file() {
            found = module;
        } else {
            break;
        }
        dir = dir.join(segment);
    }
    found
}

#[test]
fn hot_text_is_an_insert_before_the_code() {
    let text = script();
    assert!(text.starts_with("/*"), "{SCRIPT} starts with what it is");
    assert!(text.contains("SECTIONS\n{\n  .text.sepal_hot : {\n"));
    assert!(text.trim_end().ends_with("}\n}\nINSERT BEFORE .text;"));
    assert!(
        patterns(&text).len() > 500,
        "{SCRIPT} lists the functions of a run"
    );
}

#[test]
fn hot_text_names_sepal_functions_that_exist() {
    let text = script();
    let mut checked = 0;
    let mut gone = Vec::new();
    for pattern in patterns(&text) {
        let Some(path) = sepal_path(pattern) else {
            continue;
        };
        let file = module_file(&path);
        let source = std::fs::read_to_string(&file).unwrap_or_default();
        let name = path[path.len() - 1];
        let defined = [format!("fn {name}("), format!("fn {name}<")]
            .iter()
            .any(|def| source.contains(def.as_str()));
        if !defined {
            gone.push(format!(
                "sepal::{} (not in {})",
                path.join("::"),
                file.display()
            ));
        }
        checked += 1;
    }
    assert!(
        checked > 50,
        "only {checked} sepal functions found in {SCRIPT}"
    );
    assert!(
        gone.is_empty(),
        "{SCRIPT} lists functions that are gone; write it again with \
         `cargo build --profile profiling && python3 benches/hot_text.py`:\n{}",
        gone.join("\n")
    );
}

#[test]
fn mangled_paths_are_read_for_plain_sepal_functions_only() {
    assert_eq!(
        sepal_path("_ZN5sepal3ops4open17parse_and_decrypt17h*"),
        Some(vec!["ops", "open", "parse_and_decrypt"])
    );
    assert_eq!(sepal_path("_ZN3std2io5Write9write_all17h*"), None);
    assert_eq!(
        sepal_path("_ZN5sepal4keys3age15load_identities28_$u7b$$u7b$closure$u7d$$u7d$17h*"),
        None
    );
    assert_eq!(sepal_path("mi_process_init"), None);
}
