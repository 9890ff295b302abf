//! Integration tests of the `sepal` binary: data-driven CLI cases, committed fixtures made by the
//! real sops, interoperability with sops both ways, tamper resistance and a lossless round-trip
//! corpus. Everything runs in temporary directories with a temporary HOME and the throwaway keys
//! of `fixtures/keys/`.
//!
//! No test passes by skipping. Every check of sepal on inputs and files it made itself runs
//! without sops; a test that needs the real sops (or gpg, age, python3 with PyYAML, moto, OpenBao)
//! fails, naming what to install, when it is missing, unless it is marked
//! `#[ignore = "reason"]`. Where a check of sepal alone and a comparison with sops used to share a
//! test, they are split (see `common::Part`): the comparison is a separate test whose name says
//! sops (`…_with_sops`, `interop…`, `…_sops_decrypts`, `cli_cases_agree_with_sops`).
//! `SEPAL_TEST_SOPS=/path/to/sops` picks the binary (and only it: `/nonexistent` hides sops).
//! `SEPAL_REQUIRE_SOPS` is still accepted but changes nothing: a missing sops always fails.

mod bulk;
mod cases;
mod check;
mod cloud;
mod common;
mod corpus;
mod early_stdout;
mod edit;
mod exec;
mod fixtures;
mod generated;
mod gitdiff;
mod helper;
mod hostile;
mod interop;
mod keymgmt;
mod keyservice;
mod large_input;
mod layout_record;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod linking;
mod merge;
mod minimal_diff;
mod pgp;
mod pq;
mod roundtrip;
mod safety;
mod setunset;
mod shamir;
mod tamper;
mod toml;
mod toml_rops;
