//! Codec errors. Both carry the attribute path where the problem was found,
//! so that callers can turn them into diagnostics with a path.

use std::fmt;

use crate::path::AttributePath;

/// Bytes could not be decoded as a value of the expected type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub path: AttributePath,
    pub message: String,
}

/// A value could not be encoded as the given type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    pub path: AttributePath,
    pub message: String,
}

impl DecodeError {
    pub(crate) fn new(path: &AttributePath, message: impl Into<String>) -> Self {
        DecodeError {
            path: path.clone(),
            message: message.into(),
        }
    }
}

impl EncodeError {
    pub(crate) fn new(path: &AttributePath, message: impl Into<String>) -> Self {
        EncodeError {
            path: path.clone(),
            message: message.into(),
        }
    }
}

fn write_with_path(f: &mut fmt::Formatter<'_>, path: &AttributePath, msg: &str) -> fmt::Result {
    if path.is_root() {
        f.write_str(msg)
    } else {
        write!(f, "at {path}: {msg}")
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_with_path(f, &self.path, &self.message)
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_with_path(f, &self.path, &self.message)
    }
}

impl std::error::Error for DecodeError {}
impl std::error::Error for EncodeError {}
