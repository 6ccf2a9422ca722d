//! One-time backup codes for multi-factor recovery.
//!
//! A code is 16 characters from Crockford's base32 alphabet (`0-9`, `A-Z` without `I`, `L`, `O`,
//! `U`), shown as `XXXX-XXXX-XXXX-XXXX`: 80 random bits from the OS random number generator. It is
//! shown to the user once; only its hash is stored.
//!
//! # Why SHA-256 and not Argon2
//! Slow password hashes exist because passwords are guessable. A backup code is not: it is 80 bits
//! of uniform randomness, so even with a stolen table, finding a code by brute force takes on the
//! order of 2⁸⁰ hash evaluations, out of reach for SHA-256 as much as for Argon2. A fast, unsalted
//! hash is therefore enough, and it lets a code be looked up by its hash in an indexed column
//! (consuming it atomically is a single `DELETE … WHERE code_hash = $1 RETURNING`, done by the
//! caller).
//!
//! Input is normalised before hashing, so users can type codes loosely: case is ignored, dashes and
//! whitespace are dropped, and the look-alikes Crockford base32 leaves out are read as what they
//! resemble (`O` → `0`, `I`/`L` → `1`).

use secrecy::SecretString;
use secrecy::zeroize::Zeroize;
use sha2::{Digest, Sha256};

use super::CryptoError;

/// Crockford's base32 alphabet: no `I`, `L`, `O` or `U`, so nothing reads as something else.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters in a code (5 bits each: 80 bits).
pub const CODE_LEN: usize = 16;

/// How many codes a user is usually given at once.
pub const DEFAULT_COUNT: usize = 10;

/// Generates `n` backup codes: the codes to show the user once, formatted `XXXX-XXXX-XXXX-XXXX`,
/// and, in the same order, the hashes to store (see [`hash_backup_code`]).
///
/// # Errors
/// [`CryptoError::Rng`] if the operating system cannot supply randomness.
pub fn generate_backup_codes(n: usize) -> Result<(Vec<SecretString>, Vec<String>), CryptoError> {
    let mut codes = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    for _ in 0..n {
        // 10 bytes are exactly 16 symbols of 5 bits: no modulo bias.
        let mut random = [0u8; 10];
        getrandom::fill(&mut random)?;
        let mut bits = u128::from_be_bytes({
            let mut wide = [0u8; 16];
            wide[6..].copy_from_slice(&random);
            wide
        });
        random.zeroize();

        let mut raw = [0u8; CODE_LEN];
        for symbol in raw.iter_mut().rev() {
            *symbol = ALPHABET[(bits & 0x1f) as usize];
            bits >>= 5;
        }
        let mut shown = String::with_capacity(CODE_LEN + 3);
        for (i, group) in raw.chunks(4).enumerate() {
            if i > 0 {
                shown.push('-');
            }
            // The alphabet is ASCII, so each byte is one char.
            shown.extend(group.iter().map(|&b| char::from(b)));
        }
        raw.zeroize();
        hashes.push(hash_backup_code(&shown));
        codes.push(SecretString::from(shown));
    }
    Ok((codes, hashes))
}

/// The stored form of a backup code: lowercase hex SHA-256 of the normalised code (uppercase,
/// without dashes or whitespace, look-alikes mapped as described in the [module docs](self)).
/// Hash what the user typed and look it up.
pub fn hash_backup_code(input: &str) -> String {
    let mut normalised = String::with_capacity(CODE_LEN);
    for c in input.chars().filter(|c| *c != '-' && !c.is_whitespace()) {
        normalised.push(match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        });
    }
    let digest = Sha256::digest(normalised.as_bytes());
    normalised.zeroize();
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn codes_are_four_groups_of_four_unambiguous_characters() {
        let (codes, hashes) = generate_backup_codes(DEFAULT_COUNT).unwrap();
        assert_eq!((codes.len(), hashes.len()), (10, 10));
        for code in &codes {
            let code = code.expose_secret();
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), 4, "{code}");
            for group in groups {
                assert_eq!(group.len(), 4, "{code}");
                assert!(group.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
            }
        }
    }

    #[test]
    fn stored_hashes_match_the_codes_shown_in_order() {
        let (codes, hashes) = generate_backup_codes(5).unwrap();
        for (code, hash) in codes.iter().zip(&hashes) {
            assert_eq!(&hash_backup_code(code.expose_secret()), hash);
            assert_eq!(hash.len(), 64);
            assert!(
                hash.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
        }
    }

    #[test]
    fn generated_codes_are_unique() {
        let (codes, hashes) = generate_backup_codes(1000).unwrap();
        let distinct: HashSet<&str> = codes.iter().map(|c| c.expose_secret()).collect();
        assert_eq!(distinct.len(), 1000);
        assert_eq!(hashes.iter().collect::<HashSet<_>>().len(), 1000);
    }

    #[test]
    fn every_alphabet_symbol_appears_in_every_position_eventually() {
        // A bit-extraction bug (e.g. a stuck bit) would leave some symbol unused somewhere.
        let (codes, _) = generate_backup_codes(2000).unwrap();
        for position in 0..CODE_LEN {
            let seen: HashSet<u8> = codes
                .iter()
                .map(|c| {
                    c.expose_secret()
                        .bytes()
                        .filter(|&b| b != b'-')
                        .nth(position)
                        .unwrap()
                })
                .collect();
            assert_eq!(seen.len(), 32, "position {position}");
        }
    }

    #[test]
    fn loosely_typed_codes_hash_like_the_original() {
        let canonical = hash_backup_code("AB01-CD23-EF45-GH67");
        for typed in [
            "ab01-cd23-ef45-gh67",
            "AB01CD23EF45GH67",
            " ab01 cd23 ef45 gh67 ",
            "abO1-cd23-ef45-gh67",
            "ABOI-CD23-EF45-GH67",
            "ab0l\tcd23\nef45-gh67",
        ] {
            assert_eq!(hash_backup_code(typed), canonical, "{typed:?}");
        }
    }

    #[test]
    fn different_codes_hash_differently() {
        assert_ne!(
            hash_backup_code("AB01-CD23-EF45-GH67"),
            hash_backup_code("AB01-CD23-EF45-GH68")
        );
    }

    #[test]
    fn hash_is_sha256_hex_of_the_normalised_code() {
        // SHA-256("ABC"), pinned so the stored form cannot change by accident.
        assert_eq!(
            hash_backup_code("a-b c"),
            "b5d4045c3f466fa91fe2cc6abe79232a1a57cdf104f7a26e716e0a1e2789df78"
        );
    }
}
