//! Integration tests of the `sepal` binary: data-driven CLI cases, committed fixtures made by the
//! real sops, interoperability with sops both ways, tamper resistance and a lossless round-trip
//! corpus. Everything runs in temporary directories with a temporary HOME and the throwaway keys
//! of `fixtures/keys/`.
//!
//! Tests that need the real sops skip with a loud message when it is missing, unless
//! `SEPAL_REQUIRE_SOPS=1` is set (then they fail). `SEPAL_TEST_SOPS=/path/to/sops` picks a binary.

mod cases;
mod cloud;
mod common;
mod edit;
mod exec;
mod fixtures;
mod hostile;
mod interop;
mod keymgmt;
mod keyservice;
mod pgp;
mod roundtrip;
mod safety;
mod setunset;
mod shamir;
mod tamper;
