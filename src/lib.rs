//! mixerai-data (crate docs are written in the foundation commit)

pub mod crypto;
pub mod error;
pub mod types;

pub use crypto::{Binding, CryptoError, Key, KeyId, KeyState, Keyring};
pub use error::{Error, FieldError, Result, ValidationErrors};
