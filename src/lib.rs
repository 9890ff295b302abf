//! sepal: keep secrets encrypted inside the files you commit, compatible with sops 3.x.

pub mod cli;
pub mod cloud;
pub mod config;
pub mod crypto;
pub mod filebytes;
#[doc(hidden)]
pub mod fuzzing;
pub mod gotext;
pub mod keys;
#[cfg(feature = "keyservice")]
pub mod keyservice;
pub mod metadata;
pub mod ops;
pub mod stores;
pub mod threads;
pub mod tree;
pub mod treepath;
pub mod verify;
pub mod walk;
pub mod wipe;

#[cfg(test)]
mod accounted_tests;
#[cfg(test)]
mod hot_text_tests;
#[cfg(test)]
mod layers_tests;
#[cfg(test)]
mod proptests;
