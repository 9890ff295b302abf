//! The `sops` metadata block.

pub mod flat;
