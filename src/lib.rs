//! mixerai-data (crate docs are written in the foundation commit)

pub mod error;
pub mod types;

pub use error::{Error, FieldError, Result, ValidationErrors};
