//! The envelope: how one encrypted value is stored in a `BYTEA` column.
//!
//! # Format (version 1)
//!
//! | bytes      | content                                                         |
//! |------------|-----------------------------------------------------------------|
//! | `[0]`      | format version, `0x01`                                          |
//! | `[1..5]`   | [`KeyId`] of the key that encrypted it, `u32` big-endian        |
//! | `[5..17]`  | 96-bit nonce, fresh from the OS random number generator         |
//! | `[17..n-16]` | AES-256-GCM ciphertext, as long as the plaintext              |
//! | `[n-16..n]`  | 128-bit GCM authentication tag                                |
//!
//! An envelope is therefore [`OVERHEAD`] (33) bytes longer than its plaintext.
//!
//! The GCM associated data (authenticated, not stored) is the 5-byte header (`[0..5]` above)
//! followed by the canonical encoding of the [`Binding`]:
//!
//! | bytes | content                                  |
//! |-------|------------------------------------------|
//! | 2     | length of the table name, `u16` big-endian |
//! | *t*   | table name, UTF-8                        |
//! | 2     | length of the column name, `u16` big-endian |
//! | *c*   | column name, UTF-8                       |
//! | 16    | row id, the UUID's bytes in RFC 9562 order |
//!
//! Why: authenticating the header means the version and key id cannot be altered without
//! detection; authenticating the binding means an envelope copied into another row, column or table
//! (by an attacker with write access to the database, or by a bug) fails to decrypt instead of
//! silently yielding another user's secret. The length prefixes make the encoding unambiguous, so
//! table `"ab"` column `"c"` and table `"a"` column `"bc"` are different bindings.
//!
//! Random 96-bit nonces are safe up to about 2³² encryptions per key (NIST SP 800-38D); rotate keys
//! well before that.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{Nonce, Tag};
use aes_gcm::{AeadInOut, Aes256Gcm};
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use uuid::Uuid;

use super::CryptoError;
use super::keyring::{KeyId, Keyring};

/// The format version this build writes, and the only one it reads.
pub const VERSION: u8 = 0x01;

/// Length of the authenticated header: version byte and key id.
pub const HEADER_LEN: usize = 5;

/// Length of the GCM nonce.
pub const NONCE_LEN: usize = 12;

/// Length of the GCM authentication tag.
pub const TAG_LEN: usize = 16;

/// Bytes an envelope adds to its plaintext: header, nonce and tag. Also the length of the smallest
/// envelope (that of an empty plaintext).
pub const OVERHEAD: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;

/// Where the ciphertext starts.
const BODY_START: usize = HEADER_LEN + NONCE_LEN;

/// Associated data up to this size is built on the stack: it covers every PostgreSQL identifier
/// (at most 63 bytes each), so the common path allocates nothing for it.
const INLINE_AAD: usize = 192;

/// Where an encrypted value lives: its table, column and row.
///
/// It is authenticated with the value (see the [module docs](self)), so an envelope only decrypts
/// with the binding it was encrypted under. Use the real table and column names, and the row's
/// primary key, so that no two stored values share a binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Binding {
    /// The table, e.g. `"user_mfa"`.
    pub table: &'static str,
    /// The column, e.g. `"totp_secret"`.
    pub column: &'static str,
    /// The row's id.
    pub row: Uuid,
}

impl Binding {
    /// The binding of `table.column` in the row whose id is `row`.
    pub const fn new(table: &'static str, column: &'static str, row: Uuid) -> Self {
        Binding { table, column, row }
    }
}

/// The key id an envelope was encrypted under, without decrypting it: the rotation job uses it to
/// find rows still under an old key.
///
/// # Errors
/// [`CryptoError::Malformed`] if `envelope` is shorter than [`OVERHEAD`] or is not format
/// [`VERSION`].
pub fn key_id_of(envelope: &[u8]) -> Result<KeyId, CryptoError> {
    match envelope.first() {
        None => return Err(CryptoError::Malformed { reason: "empty" }),
        Some(&VERSION) => {}
        Some(_) => {
            return Err(CryptoError::Malformed {
                reason: "unsupported format version",
            });
        }
    }
    if envelope.len() < OVERHEAD {
        return Err(CryptoError::Malformed {
            reason: "shorter than the smallest envelope",
        });
    }
    let mut id = [0u8; 4];
    id.copy_from_slice(&envelope[1..HEADER_LEN]);
    Ok(KeyId(u32::from_be_bytes(id)))
}

fn header(id: KeyId) -> [u8; HEADER_LEN] {
    let [a, b, c, d] = id.0.to_be_bytes();
    [VERSION, a, b, c, d]
}

/// Calls `f` with the associated data for `header` and `binding` (see the module docs).
fn with_aad<R>(
    header: &[u8; HEADER_LEN],
    binding: &Binding,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R, CryptoError> {
    const TOO_LONG: CryptoError = CryptoError::Malformed {
        reason: "binding table or column name is longer than 65535 bytes",
    };
    let table = binding.table.as_bytes();
    let column = binding.column.as_bytes();
    let table_len = u16::try_from(table.len()).map_err(|_| TOO_LONG)?;
    let column_len = u16::try_from(column.len()).map_err(|_| TOO_LONG)?;
    let len = HEADER_LEN + 2 + table.len() + 2 + column.len() + 16;

    let write = |buf: &mut [u8]| {
        let mut at = 0;
        for part in [
            &header[..],
            &table_len.to_be_bytes(),
            table,
            &column_len.to_be_bytes(),
            column,
            binding.row.as_bytes(),
        ] {
            buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
    };
    if len <= INLINE_AAD {
        let mut buf = [0u8; INLINE_AAD];
        write(&mut buf[..len]);
        Ok(f(&buf[..len]))
    } else {
        let mut buf = vec![0u8; len];
        write(&mut buf);
        Ok(f(&buf))
    }
}

impl Keyring {
    /// Encrypts `plaintext` with the primary key into an envelope bound to `binding`, ready to be
    /// stored as `BYTEA`.
    ///
    /// # Errors
    /// [`CryptoError::NoPrimaryKey`] if no key is primary; [`CryptoError::Rng`] if no nonce can be
    /// drawn.
    pub fn encrypt(&self, binding: &Binding, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)?;
        self.encrypt_with_nonce(binding, &nonce, plaintext)
    }

    /// [`encrypt`](Self::encrypt) with a caller-chosen nonce. Crate-private: a repeated nonce under
    /// one key breaks GCM, so only the known-answer test (which needs determinism) and
    /// [`encrypt`](Self::encrypt) call it.
    pub(crate) fn encrypt_with_nonce(
        &self,
        binding: &Binding,
        nonce: &[u8; NONCE_LEN],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let (id, cipher) = self.primary_cipher()?;
        let header = header(id);

        // One allocation of the final size; the plaintext is encrypted straight into it
        // (out of place), so it is never copied in the clear.
        let mut envelope = vec![0u8; OVERHEAD + plaintext.len()];
        envelope[..HEADER_LEN].copy_from_slice(&header);
        envelope[HEADER_LEN..BODY_START].copy_from_slice(nonce);
        let (body, tag_out) = envelope[BODY_START..].split_at_mut(plaintext.len());
        let buffer = InOutBuf::new(plaintext, body).map_err(|_| CryptoError::Malformed {
            reason: "buffer length mismatch",
        })?;
        let nonce: &Nonce<Aes256Gcm> = nonce.into();
        let tag = with_aad(&header, binding, |aad| {
            cipher.encrypt_inout_detached(nonce, aad, buffer)
        })?
        // AES-GCM refuses only plaintexts over 64 GiB.
        .map_err(|_| CryptoError::Malformed {
            reason: "plaintext exceeds the AES-GCM limit",
        })?;
        tag_out.copy_from_slice(&tag);
        Ok(envelope)
    }

    /// Decrypts an envelope made by [`encrypt`](Self::encrypt) for the same `binding`, with its
    /// key if that key is [`Primary`](super::KeyState::Primary) or
    /// [`DecryptOnly`](super::KeyState::DecryptOnly). The plaintext is wiped from memory when the
    /// returned secret is dropped.
    ///
    /// # Errors
    /// - [`CryptoError::Malformed`]: not a version-1 envelope, or too short.
    /// - [`CryptoError::UnknownKey`] / [`CryptoError::KeyDisabled`]: its key is missing or disabled.
    /// - [`CryptoError::Decryption`]: wrong key, altered bytes, or another binding.
    pub fn decrypt(
        &self,
        binding: &Binding,
        envelope: &[u8],
    ) -> Result<SecretSlice<u8>, CryptoError> {
        self.open(binding, envelope).map(SecretSlice::from)
    }

    /// [`encrypt`](Self::encrypt) for text.
    ///
    /// # Errors
    /// As [`encrypt`](Self::encrypt).
    pub fn encrypt_str(&self, binding: &Binding, plaintext: &str) -> Result<Vec<u8>, CryptoError> {
        self.encrypt(binding, plaintext.as_bytes())
    }

    /// [`decrypt`](Self::decrypt) for text encrypted by [`encrypt_str`](Self::encrypt_str).
    ///
    /// # Errors
    /// As [`decrypt`](Self::decrypt), and [`CryptoError::Malformed`] if the plaintext is not UTF-8
    /// (the bytes are wiped before returning).
    pub fn decrypt_string(
        &self,
        binding: &Binding,
        envelope: &[u8],
    ) -> Result<SecretString, CryptoError> {
        let bytes = self.open(binding, envelope)?;
        match String::from_utf8(bytes) {
            // `open` allocates exactly the plaintext length, so boxing does not reallocate and
            // leave an unwiped copy behind.
            Ok(text) => Ok(SecretString::from(text)),
            Err(err) => {
                err.into_bytes().zeroize();
                Err(CryptoError::Malformed {
                    reason: "plaintext is not UTF-8",
                })
            }
        }
    }

    /// Re-encrypts an envelope under the primary key if it was written under another one: the step
    /// the key-rotation job runs on each row found by [`key_id_of`]. `Ok(None)` means it is already
    /// under the primary key and the row needs no write.
    ///
    /// # Errors
    /// As [`decrypt`](Self::decrypt) and [`encrypt`](Self::encrypt).
    pub fn rotate(
        &self,
        binding: &Binding,
        envelope: &[u8],
    ) -> Result<Option<Vec<u8>>, CryptoError> {
        if key_id_of(envelope)? == self.primary()? {
            return Ok(None);
        }
        let plaintext = self.decrypt(binding, envelope)?;
        self.encrypt(binding, plaintext.expose_secret()).map(Some)
    }

    /// Decrypts into a vector of exactly the plaintext's length and capacity. Callers wrap it in a
    /// secret at once.
    fn open(&self, binding: &Binding, envelope: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let id = key_id_of(envelope)?;
        let cipher = self.decrypt_cipher(id)?;
        let nonce: &Nonce<Aes256Gcm> =
            envelope[HEADER_LEN..BODY_START]
                .try_into()
                .map_err(|_| CryptoError::Malformed {
                    reason: "shorter than the smallest envelope",
                })?;
        let (body, tag) = envelope[BODY_START..].split_at(envelope.len() - BODY_START - TAG_LEN);
        let tag: &Tag<Aes256Gcm> = tag.try_into().map_err(|_| CryptoError::Malformed {
            reason: "shorter than the smallest envelope",
        })?;

        // Decrypted out of place into a zeroed buffer: GCM checks the tag before writing any
        // plaintext, so on failure the buffer holds only zeros.
        let mut plaintext = vec![0u8; body.len()];
        let buffer = InOutBuf::new(body, &mut plaintext).map_err(|_| CryptoError::Malformed {
            reason: "buffer length mismatch",
        })?;
        with_aad(&header(id), binding, |aad| {
            cipher.decrypt_inout_detached(nonce, aad, buffer, tag)
        })?
        .map_err(|_| CryptoError::Decryption)?;
        Ok(plaintext)
    }
}

#[cfg(test)]
mod tests {
    use aes_gcm::aead::{Aead, Payload};
    use aes_gcm::{Aes256Gcm, KeyInit};
    use proptest::prelude::*;

    use super::*;
    use crate::crypto::{Key, KeyState};

    const ROW_A: Uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    const ROW_B: Uuid = Uuid::from_u128(0xfedc_ba98_7654_3210_fedc_ba98_7654_3210);
    const SECRET: Binding = Binding::new("user_mfa", "totp_secret", ROW_A);

    fn ring_with(id: u32, byte: u8, state: KeyState) -> Keyring {
        let mut ring = Keyring::new();
        ring.add(KeyId(id), Key::from_bytes([byte; 32]), state)
            .unwrap();
        ring
    }

    fn ring() -> Keyring {
        ring_with(1, 0x11, KeyState::Primary)
    }

    #[test]
    fn round_trip_returns_the_plaintext() {
        let ring = ring();
        for plaintext in [&b""[..], b"x", b"JBSWY3DPEHPK3PXP", &[0u8; 4096]] {
            let envelope = ring.encrypt(&SECRET, plaintext).unwrap();
            assert_eq!(envelope.len(), plaintext.len() + OVERHEAD);
            assert_eq!(
                ring.decrypt(&SECRET, &envelope).unwrap().expose_secret(),
                plaintext
            );
        }
    }

    #[test]
    fn string_round_trip_returns_the_text() {
        let ring = ring();
        let envelope = ring.encrypt_str(&SECRET, "sk-live-ünïcødé").unwrap();
        assert_eq!(
            ring.decrypt_string(&SECRET, &envelope)
                .unwrap()
                .expose_secret(),
            "sk-live-ünïcødé"
        );
    }

    #[test]
    fn decrypt_string_refuses_non_utf8_plaintext() {
        let ring = ring();
        let envelope = ring.encrypt(&SECRET, &[0xff, 0xfe]).unwrap();
        assert!(matches!(
            ring.decrypt_string(&SECRET, &envelope),
            Err(CryptoError::Malformed { .. })
        ));
    }

    #[test]
    fn envelope_header_holds_version_and_big_endian_key_id() {
        let ring = ring_with(0x0102_0304, 0x11, KeyState::Primary);
        let envelope = ring.encrypt(&SECRET, b"secret").unwrap();
        assert_eq!(&envelope[..HEADER_LEN], &[0x01, 0x01, 0x02, 0x03, 0x04]);
        assert_eq!(key_id_of(&envelope), Ok(KeyId(0x0102_0304)));
    }

    #[test]
    fn each_encryption_uses_a_fresh_nonce() {
        let ring = ring();
        let a = ring.encrypt(&SECRET, b"same").unwrap();
        let b = ring.encrypt(&SECRET, b"same").unwrap();
        assert_ne!(a[HEADER_LEN..BODY_START], b[HEADER_LEN..BODY_START]);
        assert_ne!(a, b);
    }

    /// Pins the format: these bytes were computed once from the fixed inputs below. If this test
    /// fails, stored data would no longer decrypt; bump [`VERSION`] instead of changing the format.
    #[test]
    fn known_answer_vector_is_stable() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let nonce: [u8; 12] = std::array::from_fn(|i| 0xa0 + i as u8);
        let mut ring = Keyring::new();
        ring.add(KeyId(7), Key::from_bytes(key), KeyState::Primary)
            .unwrap();
        let binding = Binding::new(
            "user_mfa",
            "totp_secret",
            Uuid::parse_str("6f1c2d3e-4b5a-4978-8a9b-0c1d2e3f4a5b").unwrap(),
        );

        let envelope = ring
            .encrypt_with_nonce(&binding, &nonce, b"mixerai known answer")
            .unwrap();
        assert_eq!(hex(&envelope), KNOWN_ANSWER);
        assert_eq!(
            ring.decrypt(&binding, &envelope).unwrap().expose_secret(),
            b"mixerai known answer"
        );
    }

    /// Computed once and cross-checked against an independent AES-GCM implementation (OpenSSL via
    /// Python's `cryptography`) fed the documented header and associated-data layout.
    const KNOWN_ANSWER: &str = concat!(
        "01",                                       // version
        "00000007",                                 // key id
        "a0a1a2a3a4a5a6a7a8a9aaab",                 // nonce
        "8b71044837aa6b9f090be8a4695aa1b003db3c62", // ciphertext
        "ea07ea298d9d6da1ac6ed25924aa1541",         // tag
    );

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Decrypts with the bare AEAD and associated data built by hand from the module docs, proving
    /// the documentation describes the real format.
    #[test]
    fn associated_data_is_the_documented_encoding() {
        let ring = ring();
        let envelope = ring.encrypt(&SECRET, b"documented").unwrap();

        let mut aad = envelope[..HEADER_LEN].to_vec();
        aad.extend_from_slice(&8u16.to_be_bytes());
        aad.extend_from_slice(b"user_mfa");
        aad.extend_from_slice(&11u16.to_be_bytes());
        aad.extend_from_slice(b"totp_secret");
        aad.extend_from_slice(ROW_A.as_bytes());

        let bare = Aes256Gcm::new((&[0x11u8; 32]).into());
        let nonce: &Nonce<Aes256Gcm> = envelope[HEADER_LEN..BODY_START].try_into().unwrap();
        let plaintext = bare
            .decrypt(
                nonce,
                Payload {
                    msg: &envelope[BODY_START..],
                    aad: &aad,
                },
            )
            .unwrap();
        assert_eq!(plaintext, b"documented");
    }

    #[test]
    fn binding_encoding_is_unambiguous_across_the_table_column_split() {
        let aad = |b: &Binding| with_aad(&header(KeyId(1)), b, <[u8]>::to_vec).unwrap();
        let ab_c = Binding::new("ab", "c", ROW_A);
        let a_bc = Binding::new("a", "bc", ROW_A);
        assert_ne!(aad(&ab_c), aad(&a_bc));

        let ring = ring();
        let envelope = ring.encrypt(&ab_c, b"secret").unwrap();
        assert_eq!(
            ring.decrypt(&a_bc, &envelope).unwrap_err(),
            CryptoError::Decryption
        );
    }

    #[test]
    fn long_binding_names_are_encoded_on_the_heap_and_still_round_trip() {
        let long: &'static str = "t".repeat(300).leak();
        let binding = Binding::new(long, long, ROW_A);
        let ring = ring();
        let envelope = ring.encrypt(&binding, b"secret").unwrap();
        assert_eq!(
            ring.decrypt(&binding, &envelope).unwrap().expose_secret(),
            b"secret"
        );
    }

    #[test]
    fn envelope_copied_to_another_row_fails_to_decrypt() {
        let ring = ring();
        let envelope = ring.encrypt(&SECRET, b"secret").unwrap();
        let other_row = Binding {
            row: ROW_B,
            ..SECRET
        };
        assert_eq!(
            ring.decrypt(&other_row, &envelope).unwrap_err(),
            CryptoError::Decryption
        );
    }

    #[test]
    fn envelope_copied_to_another_column_or_table_fails_to_decrypt() {
        let ring = ring();
        let envelope = ring.encrypt(&SECRET, b"secret").unwrap();
        for elsewhere in [
            Binding {
                column: "recovery_secret",
                ..SECRET
            },
            Binding {
                table: "integrations",
                ..SECRET
            },
        ] {
            assert_eq!(
                ring.decrypt(&elsewhere, &envelope).unwrap_err(),
                CryptoError::Decryption
            );
        }
    }

    #[test]
    fn flipping_any_bit_of_any_byte_is_detected_with_the_right_error() {
        let ring = ring();
        let envelope = ring.encrypt(&SECRET, b"a secret of some length").unwrap();
        let tag_start = envelope.len() - TAG_LEN;
        for i in 0..envelope.len() {
            for bit in 0..8 {
                let mut tampered = envelope.clone();
                tampered[i] ^= 1 << bit;
                let err = ring.decrypt(&SECRET, &tampered).unwrap_err();
                let expected = match i {
                    0 => CryptoError::Malformed {
                        reason: "unsupported format version",
                    },
                    1..HEADER_LEN => CryptoError::UnknownKey {
                        id: key_id_of(&tampered).unwrap(),
                    },
                    // nonce, ciphertext and tag
                    _ => CryptoError::Decryption,
                };
                assert_eq!(
                    err, expected,
                    "byte {i} (tag starts at {tag_start}), bit {bit}"
                );
            }
        }
    }

    #[test]
    fn key_id_rewritten_to_another_known_key_fails_authentication() {
        let mut ring = ring();
        ring.add(KeyId(2), Key::from_bytes([0x22; 32]), KeyState::DecryptOnly)
            .unwrap();
        let mut envelope = ring.encrypt(&SECRET, b"secret").unwrap();
        envelope[1..HEADER_LEN].copy_from_slice(&2u32.to_be_bytes());
        assert_eq!(
            ring.decrypt(&SECRET, &envelope).unwrap_err(),
            CryptoError::Decryption
        );
    }

    #[test]
    fn truncated_or_extended_envelopes_are_refused() {
        let ring = ring();
        let envelope = ring.encrypt(&SECRET, b"secret").unwrap();
        for len in 0..envelope.len() {
            let err = ring.decrypt(&SECRET, &envelope[..len]).unwrap_err();
            if len < OVERHEAD {
                assert!(
                    matches!(err, CryptoError::Malformed { .. }),
                    "len {len}: {err:?}"
                );
            } else {
                assert_eq!(err, CryptoError::Decryption, "len {len}");
            }
        }
        let mut extended = envelope.clone();
        extended.push(0);
        assert_eq!(
            ring.decrypt(&SECRET, &extended).unwrap_err(),
            CryptoError::Decryption
        );
    }

    #[test]
    fn same_key_id_with_different_key_material_fails_authentication() {
        let envelope = ring_with(1, 0x11, KeyState::Primary)
            .encrypt(&SECRET, b"secret")
            .unwrap();
        let impostor = ring_with(1, 0x12, KeyState::Primary);
        assert_eq!(
            impostor.decrypt(&SECRET, &envelope).unwrap_err(),
            CryptoError::Decryption
        );
    }

    #[test]
    fn unknown_key_is_reported_by_id() {
        let envelope = ring_with(9, 0x11, KeyState::Primary)
            .encrypt(&SECRET, b"secret")
            .unwrap();
        assert_eq!(
            ring().decrypt(&SECRET, &envelope).unwrap_err(),
            CryptoError::UnknownKey { id: KeyId(9) }
        );
    }

    #[test]
    fn disabled_key_refuses_to_decrypt() {
        let mut ring = ring();
        let envelope = ring.encrypt(&SECRET, b"secret").unwrap();
        ring.set_state(KeyId(1), KeyState::Disabled).unwrap();
        assert_eq!(
            ring.decrypt(&SECRET, &envelope).unwrap_err(),
            CryptoError::KeyDisabled { id: KeyId(1) }
        );
        assert_eq!(
            ring.encrypt(&SECRET, b"x").unwrap_err(),
            CryptoError::NoPrimaryKey
        );
    }

    #[test]
    fn after_rotation_old_envelopes_decrypt_and_new_ones_use_the_new_primary() {
        let mut ring = ring();
        let old = ring.encrypt(&SECRET, b"old").unwrap();
        ring.add(KeyId(2), Key::from_bytes([0x22; 32]), KeyState::Primary)
            .unwrap();

        let new = ring.encrypt(&SECRET, b"new").unwrap();
        assert_eq!(key_id_of(&new), Ok(KeyId(2)));
        assert_eq!(ring.state(KeyId(1)), Some(KeyState::DecryptOnly));
        assert_eq!(ring.decrypt(&SECRET, &old).unwrap().expose_secret(), b"old");
        assert_eq!(ring.decrypt(&SECRET, &new).unwrap().expose_secret(), b"new");
    }

    #[test]
    fn rotate_reencrypts_old_envelopes_under_the_primary_and_skips_current_ones() {
        let mut ring = ring();
        let old = ring.encrypt(&SECRET, b"secret").unwrap();
        ring.add(KeyId(2), Key::from_bytes([0x22; 32]), KeyState::Primary)
            .unwrap();

        let rotated = ring
            .rotate(&SECRET, &old)
            .unwrap()
            .expect("old key, so re-encrypted");
        assert_eq!(key_id_of(&rotated), Ok(KeyId(2)));
        assert_eq!(
            ring.decrypt(&SECRET, &rotated).unwrap().expose_secret(),
            b"secret"
        );
        assert_eq!(ring.rotate(&SECRET, &rotated), Ok(None));

        // Once rotated, the old key can be disabled without losing anything.
        ring.set_state(KeyId(1), KeyState::Disabled).unwrap();
        assert_eq!(
            ring.decrypt(&SECRET, &rotated).unwrap().expose_secret(),
            b"secret"
        );
    }

    #[test]
    fn encrypting_without_a_primary_key_fails() {
        let ring = ring_with(1, 0x11, KeyState::DecryptOnly);
        assert_eq!(
            ring.encrypt(&SECRET, b"x").unwrap_err(),
            CryptoError::NoPrimaryKey
        );
    }

    #[test]
    fn key_id_of_refuses_empty_short_and_future_versions() {
        assert_eq!(
            key_id_of(&[]),
            Err(CryptoError::Malformed { reason: "empty" })
        );
        assert!(matches!(
            key_id_of(&[VERSION; OVERHEAD - 1]),
            Err(CryptoError::Malformed { .. })
        ));
        assert_eq!(
            key_id_of(&[0x02; 64]),
            Err(CryptoError::Malformed {
                reason: "unsupported format version"
            })
        );
    }

    #[test]
    fn errors_never_mention_plaintext_or_key() {
        let ring = ring();
        let envelope = ring.encrypt(&SECRET, b"hunter2-plaintext").unwrap();
        let err = ring
            .decrypt(
                &Binding {
                    row: ROW_B,
                    ..SECRET
                },
                &envelope,
            )
            .unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("17, 17"),
            "{shown}"
        );
    }

    proptest! {
        #[test]
        fn decrypting_arbitrary_bytes_never_panics_and_always_fails(
            bytes in proptest::collection::vec(any::<u8>(), 0..128),
        ) {
            prop_assert!(ring().decrypt(&SECRET, &bytes).is_err());
        }

        #[test]
        fn arbitrary_bytes_behind_a_valid_header_fail_authentication(
            body in proptest::collection::vec(any::<u8>(), 28..128),
        ) {
            let mut envelope = header(KeyId(1)).to_vec();
            envelope.extend_from_slice(&body);
            prop_assert_eq!(ring().decrypt(&SECRET, &envelope).unwrap_err(), CryptoError::Decryption);
        }

        #[test]
        fn any_plaintext_round_trips_under_any_row(
            plaintext in proptest::collection::vec(any::<u8>(), 0..1024),
            row in any::<u128>(),
        ) {
            let ring = ring();
            let binding = Binding { row: Uuid::from_u128(row), ..SECRET };
            let envelope = ring.encrypt(&binding, &plaintext).unwrap();
            let decrypted = ring.decrypt(&binding, &envelope).unwrap();
            prop_assert_eq!(decrypted.expose_secret(), &plaintext[..]);
        }
    }
}
