//! The AES-256 keys that encrypt secrets at rest, and which of them encrypts.
//!
//! Each key has a stable [`KeyId`] that is written into every envelope it produces, so keys can be
//! rotated without a flag day: add a new key, [`promote`](Keyring::promote) it (the old primary
//! becomes [`KeyState::DecryptOnly`]), re-encrypt old rows in the background with
//! [`Keyring::rotate`], then [`disable`](KeyState::Disabled) and finally remove the old key.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::{Aes256Gcm, KeyInit};
use base64::Engine as _;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, ExposeSecretMut, SecretBox};

use super::CryptoError;

/// Environment variable holding the keys: comma-separated `id:base64key` entries.
pub const KEYS_ENV: &str = "MIXERAI_ENCRYPTION_KEYS";

/// Environment variable naming the primary key id; without it the first key listed is primary.
pub const PRIMARY_KEY_ENV: &str = "MIXERAI_PRIMARY_KEY_ID";

/// The stable identifier of one key, written into every envelope the key produces.
///
/// Ids are chosen by the operator and must never be reused for different key material: an envelope
/// only says which id encrypted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub u32);

impl KeyId {
    /// The id as a number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl From<u32> for KeyId {
    fn from(id: u32) -> Self {
        KeyId(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a key may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Encrypts new values and decrypts. At most one key is primary.
    Primary,
    /// Decrypts values written before a rotation; never encrypts.
    DecryptOnly,
    /// Refuses everything. Kept so a decryption attempt fails with [`CryptoError::KeyDisabled`]
    /// (and can be alerted on) before the key is deleted for good.
    Disabled,
}

/// 256 bits of AES key material, wiped from memory when dropped.
///
/// Neither [`Debug`] nor anything else in this crate ever prints the bytes.
pub struct Key(SecretBox<[u8; 32]>);

impl Key {
    /// Length of a key in bytes.
    pub const LEN: usize = 32;

    /// Wraps raw key bytes.
    ///
    /// The array is moved in and the local copy is wiped; the caller is responsible for any copy
    /// it kept.
    pub fn from_bytes(mut bytes: [u8; 32]) -> Self {
        let mut secret = SecretBox::new(Box::new([0u8; 32]));
        secret.expose_secret_mut().copy_from_slice(&bytes);
        secrecy::zeroize::Zeroize::zeroize(&mut bytes);
        Key(secret)
    }

    /// Decodes a key from standard base64 (with padding), as found in configuration.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when the text is not base64 or does not decode to 32 bytes.
    pub fn from_base64(encoded: &str) -> Result<Self, CryptoError> {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::InvalidKey {
                id: None,
                reason: "not valid base64",
            })?;
        if decoded.len() != Self::LEN {
            return Err(CryptoError::InvalidKey {
                id: None,
                reason: "must decode to 32 bytes",
            });
        }
        let mut secret = SecretBox::new(Box::new([0u8; 32]));
        secret.expose_secret_mut().copy_from_slice(&decoded);
        Ok(Key(secret))
    }

    /// A fresh random key from the operating system's random number generator.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if the operating system cannot supply randomness.
    pub fn generate() -> Result<Self, CryptoError> {
        // Filled in place on the heap, so the key never sits in a stack temporary.
        let mut secret = SecretBox::new(Box::new([0u8; 32]));
        getrandom::fill(secret.expose_secret_mut())?;
        Ok(Key(secret))
    }

    /// The key in standard base64, the format [`Key::from_base64`] and [`Keyring::from_config`]
    /// read: for provisioning a new key into configuration.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.0.expose_secret()))
    }

    /// Expands the key into a ready AES-256-GCM instance (whose key schedule is also wiped on drop).
    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.expose_secret().into())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key([REDACTED])")
    }
}

/// One key of the ring. Only the expanded cipher is kept: the raw bytes are not needed after
/// expansion, and keeping one copy of the secret is better than two.
struct Entry {
    cipher: Aes256Gcm,
    state: KeyState,
}

/// The set of keys this process encrypts and decrypts with.
///
/// Build it once at startup ([`Keyring::from_env`]) and share it (`Arc<Keyring>`); it is
/// `Send + Sync` and every operation takes `&self`. Each key's AES key schedule is expanded once
/// when it is added, not on every call.
#[derive(Default)]
pub struct Keyring {
    entries: BTreeMap<KeyId, Entry>,
    primary: Option<KeyId>,
}

impl Keyring {
    /// An empty keyring: it can neither encrypt nor decrypt until keys are added.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key. Adding it as [`KeyState::Primary`] demotes the previous primary to
    /// [`KeyState::DecryptOnly`], as [`promote`](Self::promote) does.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] if `id` is already in the ring: replacing the material behind an
    /// id would make every envelope written under it unreadable.
    pub fn add(&mut self, id: KeyId, key: Key, state: KeyState) -> Result<(), CryptoError> {
        if self.entries.contains_key(&id) {
            return Err(CryptoError::InvalidKey {
                id: Some(id),
                reason: "duplicate key id",
            });
        }
        // Inserted as DecryptOnly first so `promote` is the one place that maintains the invariant.
        self.entries.insert(
            id,
            Entry {
                cipher: key.cipher(),
                state: KeyState::DecryptOnly,
            },
        );
        self.set_state(id, state)
    }

    /// Makes `id` the key that encrypts; the previous primary becomes [`KeyState::DecryptOnly`].
    ///
    /// # Errors
    /// [`CryptoError::UnknownKey`] if `id` is not in the ring.
    pub fn promote(&mut self, id: KeyId) -> Result<(), CryptoError> {
        self.set_state(id, KeyState::Primary)
    }

    /// Changes what `id` may be used for. Setting [`KeyState::Primary`] is [`promote`](Self::promote).
    /// Demoting or disabling the primary leaves the ring without one: decryption keeps working,
    /// encryption fails with [`CryptoError::NoPrimaryKey`] until another key is promoted.
    ///
    /// # Errors
    /// [`CryptoError::UnknownKey`] if `id` is not in the ring.
    pub fn set_state(&mut self, id: KeyId, state: KeyState) -> Result<(), CryptoError> {
        if !self.entries.contains_key(&id) {
            return Err(CryptoError::UnknownKey { id });
        }
        if state == KeyState::Primary
            && let Some(previous) = self.primary.filter(|&p| p != id)
            && let Some(entry) = self.entries.get_mut(&previous)
        {
            entry.state = KeyState::DecryptOnly;
        }
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.state = state;
        }
        if state == KeyState::Primary {
            self.primary = Some(id);
        } else if self.primary == Some(id) {
            self.primary = None;
        }
        Ok(())
    }

    /// Removes a key for good. Envelopes written under it then fail with
    /// [`CryptoError::UnknownKey`]; disable it first and watch for [`CryptoError::KeyDisabled`] to
    /// be sure nothing still needs it.
    ///
    /// Returns whether the key was present.
    pub fn remove(&mut self, id: KeyId) -> bool {
        if self.primary == Some(id) {
            self.primary = None;
        }
        self.entries.remove(&id).is_some()
    }

    /// The key that encrypts.
    ///
    /// # Errors
    /// [`CryptoError::NoPrimaryKey`] if no key is primary.
    pub fn primary(&self) -> Result<KeyId, CryptoError> {
        self.primary.ok_or(CryptoError::NoPrimaryKey)
    }

    /// The state of `id`, or `None` if it is not in the ring.
    pub fn state(&self, id: KeyId) -> Option<KeyState> {
        self.entries.get(&id).map(|e| e.state)
    }

    /// Every key id in the ring, in ascending order.
    pub fn key_ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.entries.keys().copied()
    }

    /// The cipher for encrypting: the primary's.
    pub(crate) fn primary_cipher(&self) -> Result<(KeyId, &Aes256Gcm), CryptoError> {
        let id = self.primary()?;
        let entry = self.entries.get(&id).ok_or(CryptoError::NoPrimaryKey)?;
        Ok((id, &entry.cipher))
    }

    /// The cipher for decrypting an envelope written under `id`: refuses unknown and disabled keys.
    pub(crate) fn decrypt_cipher(&self, id: KeyId) -> Result<&Aes256Gcm, CryptoError> {
        match self.entries.get(&id) {
            None => Err(CryptoError::UnknownKey { id }),
            Some(Entry {
                state: KeyState::Disabled,
                ..
            }) => Err(CryptoError::KeyDisabled { id }),
            Some(entry) => Ok(&entry.cipher),
        }
    }

    /// Loads the keys from [`KEYS_ENV`] (`MIXERAI_ENCRYPTION_KEYS`) and, optionally,
    /// [`PRIMARY_KEY_ENV`] (`MIXERAI_PRIMARY_KEY_ID`). See [`Keyring::from_config`] for the format.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] if the variable is missing or not valid, as for
    /// [`Keyring::from_config`].
    pub fn from_env() -> Result<Self, CryptoError> {
        let keys =
            std::env::var(KEYS_ENV)
                .map(Zeroizing::new)
                .map_err(|_| CryptoError::InvalidKey {
                    id: None,
                    reason: "MIXERAI_ENCRYPTION_KEYS is not set",
                })?;
        let primary = std::env::var(PRIMARY_KEY_ENV).ok();
        Self::from_config(&keys, primary.as_deref())
    }

    /// Builds a keyring from configuration text: `keys` is comma-separated `id:base64key` entries
    /// (e.g. `"2:q0Rx…=,1:Zm9v…="`; whitespace around entries is ignored), `primary` names the key
    /// that encrypts. Without `primary` the first entry is primary. Every other key is
    /// [`KeyState::DecryptOnly`].
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] if there is no key, an entry is not `id:base64key`, an id is not
    /// a `u32` or repeats, a key is not 32 bytes of base64, or `primary` names no listed key.
    pub fn from_config(keys: &str, primary: Option<&str>) -> Result<Self, CryptoError> {
        let mut ring = Keyring::new();
        let mut first = None;
        for entry in keys.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (id, encoded) = entry.split_once(':').ok_or(CryptoError::InvalidKey {
                id: None,
                reason: "entry is not of the form id:base64key",
            })?;
            let id = parse_id(id)?;
            let key = Key::from_base64(encoded).map_err(|e| match e {
                CryptoError::InvalidKey { reason, .. } => CryptoError::InvalidKey {
                    id: Some(id),
                    reason,
                },
                other => other,
            })?;
            ring.add(id, key, KeyState::DecryptOnly)?;
            first.get_or_insert(id);
        }
        let Some(first) = first else {
            return Err(CryptoError::InvalidKey {
                id: None,
                reason: "no encryption keys configured",
            });
        };
        let primary = match primary.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => parse_id(p)?,
            None => first,
        };
        ring.promote(primary).map_err(|_| CryptoError::InvalidKey {
            id: Some(primary),
            reason: "the primary key id is not among the configured keys",
        })?;
        Ok(ring)
    }
}

fn parse_id(text: &str) -> Result<KeyId, CryptoError> {
    text.trim()
        .parse::<u32>()
        .map(KeyId)
        .map_err(|_| CryptoError::InvalidKey {
            id: None,
            reason: "key id is not an unsigned 32-bit integer",
        })
}

/// Shows ids and states only: key material never reaches a log.
impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("primary", &self.primary)
            .field(
                "keys",
                &self
                    .entries
                    .iter()
                    .map(|(id, e)| (id.0, e.state))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Key {
        Key::from_bytes([byte; 32])
    }

    fn b64(byte: u8) -> String {
        base64::engine::general_purpose::STANDARD.encode([byte; 32])
    }

    #[test]
    fn keyring_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Keyring>();
        assert_send_sync::<Key>();
    }

    #[test]
    fn empty_keyring_has_no_primary() {
        assert_eq!(Keyring::new().primary(), Err(CryptoError::NoPrimaryKey));
    }

    #[test]
    fn promoting_a_key_demotes_the_previous_primary_to_decrypt_only() {
        let mut ring = Keyring::new();
        ring.add(KeyId(1), key(1), KeyState::Primary).unwrap();
        ring.add(KeyId(2), key(2), KeyState::DecryptOnly).unwrap();
        assert_eq!(ring.primary(), Ok(KeyId(1)));

        ring.promote(KeyId(2)).unwrap();
        assert_eq!(ring.primary(), Ok(KeyId(2)));
        assert_eq!(ring.state(KeyId(1)), Some(KeyState::DecryptOnly));
        assert_eq!(ring.state(KeyId(2)), Some(KeyState::Primary));
    }

    #[test]
    fn adding_a_second_primary_demotes_the_first() {
        let mut ring = Keyring::new();
        ring.add(KeyId(1), key(1), KeyState::Primary).unwrap();
        ring.add(KeyId(2), key(2), KeyState::Primary).unwrap();
        assert_eq!(ring.primary(), Ok(KeyId(2)));
        assert_eq!(ring.state(KeyId(1)), Some(KeyState::DecryptOnly));
        let primaries = ring
            .key_ids()
            .filter(|&id| ring.state(id) == Some(KeyState::Primary))
            .count();
        assert_eq!(primaries, 1);
    }

    #[test]
    fn promoting_the_current_primary_keeps_it_primary() {
        let mut ring = Keyring::new();
        ring.add(KeyId(1), key(1), KeyState::Primary).unwrap();
        ring.promote(KeyId(1)).unwrap();
        assert_eq!(ring.primary(), Ok(KeyId(1)));
        assert_eq!(ring.state(KeyId(1)), Some(KeyState::Primary));
    }

    #[test]
    fn demoting_the_primary_leaves_no_primary() {
        let mut ring = Keyring::new();
        ring.add(KeyId(1), key(1), KeyState::Primary).unwrap();
        ring.set_state(KeyId(1), KeyState::Disabled).unwrap();
        assert_eq!(ring.primary(), Err(CryptoError::NoPrimaryKey));
        assert_eq!(ring.state(KeyId(1)), Some(KeyState::Disabled));
    }

    #[test]
    fn set_state_primary_is_promote() {
        let mut ring = Keyring::new();
        ring.add(KeyId(1), key(1), KeyState::Primary).unwrap();
        ring.add(KeyId(2), key(2), KeyState::Disabled).unwrap();
        ring.set_state(KeyId(2), KeyState::Primary).unwrap();
        assert_eq!(ring.primary(), Ok(KeyId(2)));
        assert_eq!(ring.state(KeyId(1)), Some(KeyState::DecryptOnly));
    }

    #[test]
    fn unknown_ids_are_refused_with_a_typed_error() {
        let mut ring = Keyring::new();
        assert_eq!(
            ring.promote(KeyId(9)),
            Err(CryptoError::UnknownKey { id: KeyId(9) })
        );
        assert_eq!(
            ring.set_state(KeyId(9), KeyState::Disabled),
            Err(CryptoError::UnknownKey { id: KeyId(9) })
        );
        assert_eq!(ring.state(KeyId(9)), None);
    }

    #[test]
    fn adding_an_existing_id_is_refused_and_keeps_the_original() {
        let mut ring = Keyring::new();
        ring.add(KeyId(1), key(1), KeyState::Primary).unwrap();
        let err = ring
            .add(KeyId(1), key(2), KeyState::DecryptOnly)
            .unwrap_err();
        assert!(matches!(
            err,
            CryptoError::InvalidKey {
                id: Some(KeyId(1)),
                ..
            }
        ));
        assert_eq!(ring.state(KeyId(1)), Some(KeyState::Primary));
    }

    #[test]
    fn removing_the_primary_leaves_no_primary() {
        let mut ring = Keyring::new();
        ring.add(KeyId(1), key(1), KeyState::Primary).unwrap();
        assert!(ring.remove(KeyId(1)));
        assert!(!ring.remove(KeyId(1)));
        assert_eq!(ring.primary(), Err(CryptoError::NoPrimaryKey));
    }

    #[test]
    fn key_ids_are_listed_in_ascending_order() {
        let mut ring = Keyring::new();
        for id in [3, 1, 2] {
            ring.add(KeyId(id), key(id as u8), KeyState::DecryptOnly)
                .unwrap();
        }
        assert_eq!(
            ring.key_ids().collect::<Vec<_>>(),
            vec![KeyId(1), KeyId(2), KeyId(3)]
        );
    }

    #[test]
    fn config_without_primary_makes_the_first_key_primary_and_the_rest_decrypt_only() {
        let config = format!("7:{}, 3:{}", b64(7), b64(3));
        let ring = Keyring::from_config(&config, None).unwrap();
        assert_eq!(ring.primary(), Ok(KeyId(7)));
        assert_eq!(ring.state(KeyId(3)), Some(KeyState::DecryptOnly));
    }

    #[test]
    fn config_primary_names_the_key_that_encrypts() {
        let config = format!("7:{},3:{}", b64(7), b64(3));
        let ring = Keyring::from_config(&config, Some("3")).unwrap();
        assert_eq!(ring.primary(), Ok(KeyId(3)));
        assert_eq!(ring.state(KeyId(7)), Some(KeyState::DecryptOnly));
    }

    #[test]
    fn config_errors_are_typed_and_name_the_key() {
        let invalid = |keys: &str, primary: Option<&str>| match Keyring::from_config(keys, primary)
        {
            Err(CryptoError::InvalidKey { id, .. }) => id,
            other => panic!("expected InvalidKey, got {other:?}"),
        };
        assert_eq!(invalid("", None), None);
        assert_eq!(invalid(" , ", None), None);
        assert_eq!(invalid("no-colon", None), None);
        assert_eq!(invalid(&format!("x:{}", b64(1)), None), None);
        assert_eq!(invalid(&format!("-1:{}", b64(1)), None), None);
        assert_eq!(invalid("1:not base64!", None), Some(KeyId(1)));
        assert_eq!(invalid("2:c2hvcnQ=", None), Some(KeyId(2)));
        assert_eq!(
            invalid(&format!("1:{},1:{}", b64(1), b64(2)), None),
            Some(KeyId(1))
        );
        assert_eq!(invalid(&format!("1:{}", b64(1)), Some("2")), Some(KeyId(2)));
        assert_eq!(invalid(&format!("1:{}", b64(1)), Some("two")), None);
    }

    #[test]
    fn key_round_trips_through_base64() {
        let key = Key::generate().unwrap();
        let again = Key::from_base64(&key.to_base64()).unwrap();
        assert_eq!(key.0.expose_secret(), again.0.expose_secret());
    }

    #[test]
    fn generated_keys_differ() {
        let a = Key::generate().unwrap();
        let b = Key::generate().unwrap();
        assert_ne!(a.0.expose_secret(), b.0.expose_secret());
    }

    #[test]
    fn debug_output_never_contains_key_material() {
        let raw = [0xABu8; 32];
        let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
        let key = Key::from_bytes(raw);
        let key_debug = format!("{key:?}");

        let mut ring = Keyring::new();
        ring.add(KeyId(5), Key::from_bytes(raw), KeyState::Primary)
            .unwrap();
        ring.add(
            KeyId(6),
            Key::from_base64(&encoded).unwrap(),
            KeyState::Disabled,
        )
        .unwrap();
        let ring_debug = format!("{ring:?} {ring:#?}");

        for shown in [&key_debug, &ring_debug] {
            for needle in ["171", "abab", "ABAB", "0xab", &encoded, &encoded[..8]] {
                assert!(!shown.contains(needle), "{needle:?} leaked into {shown}");
            }
        }
        assert!(ring_debug.contains("Primary") && ring_debug.contains("Disabled"));
        assert!(ring_debug.contains('5') && ring_debug.contains('6'));
    }
}
