//! Placeholder: being written.

use super::{Changes, Parsed, StoreError, StoreOptions};
use crate::tree::{Tree, Value};

pub struct Layout;

pub fn parse(_src: &[u8]) -> Result<Parsed, StoreError> {
    Err(StoreError::new("the dotenv store is not written yet"))
}

pub fn splice(
    _layout: &Layout,
    _parsed: &Parsed,
    _changes: &Changes,
    _metadata: Option<&Value>,
    _options: &StoreOptions,
) -> Result<Vec<u8>, StoreError> {
    Err(StoreError::new("the dotenv store is not written yet"))
}

pub fn emit(_tree: &Tree, _metadata: Option<&Value>, _options: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    Err(StoreError::new("the dotenv store is not written yet"))
}

pub fn emit_value(_value: &Value, _options: &StoreOptions) -> Result<Vec<u8>, StoreError> {
    Err(StoreError::new("the dotenv store is not written yet"))
}
