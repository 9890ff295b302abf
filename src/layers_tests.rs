//! The one-way rule, checked: every non-test source file may name (`crate::x`, `super::x` that
//! leaves its module) only modules of a lower layer, or its own top-level module. The layers are
//! those of `docs/architecture.md`; a change that makes an import run back up fails here.

use std::path::{Path, PathBuf};

/// Top-level modules by layer, lowest first.
const LAYERS: &[&[&str]] = &[
    &["wipe", "threads"],
    &["tree", "filebytes"],
    &["treepath", "gotext"],
    &["stores", "crypto", "metadata"],
    &["config", "walk", "verify"],
    &["keys"],
    &["keyservice"],
    &["cloud"],
    &["ops"],
    &["cli", "fuzzing"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Source files under `dir`, recursively.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Whether a file holds only tests (by its name).
fn test_only(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with("tests.rs")
        || name == "testutil.rs"
        || name == "test_support.rs"
        || name == "proptests.rs"
}

/// The file's text without its `#[cfg(test)] mod ... { ... }` block (tests close a file; the
/// module may be `pub(super)`).
fn non_test_text(text: &str) -> &str {
    let mut search = 0;
    while let Some(at) = text[search..].find("#[cfg(test)]") {
        let at = search + at;
        let rest = text[at..].trim_start_matches("#[cfg(test)]").trim_start();
        // A test module that other modules' tests use is `pub(super)` or the like.
        let rest = match rest.strip_prefix("pub") {
            Some(after) if after.starts_with('(') => {
                after.find(')').map_or(after, |close| &after[close + 1..])
            }
            Some(after) => after,
            None => rest,
        }
        .trim_start();
        if rest.starts_with("mod ")
            && rest
                .find('{')
                .is_some_and(|b| rest.find(';').is_none_or(|s| b < s))
        {
            return &text[..at];
        }
        search = at + 1;
    }
    text
}

/// The top-level modules a text names through `crate::`.
fn named_modules(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
        rest = after;
    }
    out
}

#[test]
fn imports_only_point_down() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&root).unwrap_or(&file);
        let own = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or("")
            .trim_end_matches(".rs")
            .to_string();
        let Some(own_layer) = layer_of(&own) else {
            continue;
        };
        if test_only(&file) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for m in named_modules(non_test_text(&text)) {
            if m == own {
                continue;
            }
            match layer_of(&m) {
                Some(l) if l < own_layer => {}
                _ => wrong.push(format!("{}: crate::{m}", rel.display())),
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports that do not point down a layer:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_module_has_a_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(root.join("lib.rs")).unwrap_or_default();
    for line in lib.lines() {
        let line = line.trim();
        if let Some(m) = line
            .strip_prefix("pub mod ")
            .and_then(|m| m.strip_suffix(';'))
        {
            assert!(layer_of(m).is_some(), "module {m} has no layer");
        }
    }
}

#[test]
fn a_module_of_non_test_code_stays_small() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut big = Vec::new();
    for file in files {
        if test_only(&file) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let lines = non_test_text(&text).lines().count();
        if lines > 600 {
            big.push(format!("{}: {lines} lines", file.display()));
        }
    }
    assert!(
        big.is_empty(),
        "modules over 600 lines:\n{}",
        big.join("\n")
    );
}

#[test]
fn test_modules_are_cut_off_whatever_their_visibility() {
    for module in ["mod tests {", "pub(super) mod tests {", "pub mod tests {"] {
        let text = format!("fn a() {{}}\n#[cfg(test)]\n{module}\n}}\n");
        assert_eq!(non_test_text(&text), "fn a() {}\n", "{module}");
    }
    // A test-only module in a file of its own is declared, not cut off.
    let declared = "#[cfg(test)]\nmod a;\nfn b() {}\n";
    assert_eq!(non_test_text(declared), declared);
}
