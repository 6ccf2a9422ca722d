//! Password hashing: Argon2id, stored as PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
//!
//! The PHC string carries its own algorithm, version, parameters and salt, so hashes made under
//! older parameters keep verifying after the policy is raised; [`needs_rehash`] tells the login
//! path when to replace one (verify, then if it matches and needs a rehash, hash the password it
//! just received and store the new string).

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{self, PasswordHasher, PasswordVerifier};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

use super::CryptoError;

/// Length of the derived hash, in bytes.
const OUTPUT_LEN: usize = 32;

/// The Argon2id parameters new hashes are made with.
///
/// [`PasswordPolicy::default`] is the OWASP Password Storage Cheat Sheet's Argon2id
/// recommendation: 19 MiB of memory (m = 19456 KiB), 2 iterations (t = 2), 1 lane (p = 1), with a
/// 16-byte random salt and a 32-byte output. That costs in the order of tens of milliseconds per
/// hash on a server core: slow enough to make offline guessing expensive, cheap enough for a login.
/// The parameters are injectable so tests can use tiny ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    params: Params,
}

impl PasswordPolicy {
    /// Memory cost of the default policy, in KiB (19 MiB).
    pub const DEFAULT_M_COST_KIB: u32 = 19 * 1024;
    /// Iterations of the default policy.
    pub const DEFAULT_T_COST: u32 = 2;
    /// Parallel lanes of the default policy.
    pub const DEFAULT_P_COST: u32 = 1;

    /// A policy of `m_cost_kib` KiB of memory, `t_cost` iterations and `p_cost` lanes.
    ///
    /// # Errors
    /// [`CryptoError::Password`] if Argon2 refuses the combination (e.g. less than 8 KiB of memory
    /// per lane, zero iterations).
    pub fn new(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self, CryptoError> {
        let params = Params::new(m_cost_kib, t_cost, p_cost, Some(OUTPUT_LEN)).map_err(|_| {
            CryptoError::Password {
                reason: "invalid Argon2 parameters",
            }
        })?;
        Ok(PasswordPolicy { params })
    }

    /// Memory cost in KiB.
    pub fn m_cost_kib(&self) -> u32 {
        self.params.m_cost()
    }

    /// Number of iterations.
    pub fn t_cost(&self) -> u32 {
        self.params.t_cost()
    }

    /// Number of lanes.
    pub fn p_cost(&self) -> u32 {
        self.params.p_cost()
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes `password` with a fresh random salt into a PHC string.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if no salt can be drawn; [`CryptoError::Password`] if hashing fails
    /// (e.g. not enough memory).
    pub fn hash(&self, password: &SecretString) -> Result<String, CryptoError> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt)?;
        self.argon2()
            .hash_password_with_salt(password.expose_secret().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|_| CryptoError::Password {
                reason: "hashing failed",
            })
    }

    /// Whether `password` matches the stored `phc` string. The parameters are read from the string,
    /// not from this policy, so hashes made under an older policy still verify. The comparison is
    /// constant-time.
    ///
    /// # Errors
    /// [`CryptoError::Password`] if `phc` is not a complete Argon2 PHC string: a corrupt stored
    /// hash is an error to surface, not a wrong password.
    pub fn verify(&self, password: &SecretString, phc: &str) -> Result<bool, CryptoError> {
        let hash = parse(phc)?;
        match self
            .argon2()
            .verify_password(password.expose_secret().as_bytes(), &hash)
        {
            Ok(()) => Ok(true),
            Err(password_hash::Error::PasswordInvalid) => Ok(false),
            Err(_) => Err(CryptoError::Password {
                reason: "stored hash has unusable parameters",
            }),
        }
    }

    /// Whether `phc` was made with anything other than this policy (algorithm, version, memory,
    /// iterations, lanes, output length), and should be replaced after the next successful login.
    /// An unparsable string needs a rehash too.
    pub fn needs_rehash(&self, phc: &str) -> bool {
        let Ok(hash) = parse(phc) else { return true };
        let Ok(params) = Params::try_from(&hash) else {
            return true;
        };
        hash.algorithm != ARGON2ID_IDENT
            || hash.version != Some(Version::V0x13.into())
            || params.m_cost() != self.params.m_cost()
            || params.t_cost() != self.params.t_cost()
            || params.p_cost() != self.params.p_cost()
            || params.output_len() != Some(OUTPUT_LEN)
    }
}

impl Default for PasswordPolicy {
    /// The OWASP recommendation: m = 19456 KiB, t = 2, p = 1.
    fn default() -> Self {
        PasswordPolicy {
            params: Params::new(
                Self::DEFAULT_M_COST_KIB,
                Self::DEFAULT_T_COST,
                Self::DEFAULT_P_COST,
                Some(OUTPUT_LEN),
            )
            .unwrap_or_default(),
        }
    }
}

/// Parses a stored PHC string, refusing any that is not an Argon2 hash with salt and output.
fn parse(phc: &str) -> Result<PasswordHash, CryptoError> {
    const MALFORMED: CryptoError = CryptoError::Password {
        reason: "stored hash is not a valid Argon2 PHC string",
    };
    let hash = PasswordHash::new(phc).map_err(|_| MALFORMED)?;
    if Algorithm::try_from(hash.algorithm.as_str()).is_err()
        || hash.salt.is_none()
        || hash.hash.is_none()
    {
        return Err(MALFORMED);
    }
    Ok(hash)
}

/// Hashes `password` under the [default policy](PasswordPolicy::default).
///
/// # Errors
/// As [`PasswordPolicy::hash`].
pub fn hash_password(password: &SecretString) -> Result<String, CryptoError> {
    PasswordPolicy::default().hash(password)
}

/// Checks `password` against a stored PHC string: `Ok(false)` for a wrong password.
///
/// # Errors
/// As [`PasswordPolicy::verify`]: a malformed stored hash.
pub fn verify_password(password: &SecretString, phc: &str) -> Result<bool, CryptoError> {
    PasswordPolicy::default().verify(password, phc)
}

/// Whether a stored hash differs from the [default policy](PasswordPolicy::default).
pub fn needs_rehash(phc: &str) -> bool {
    PasswordPolicy::default().needs_rehash(phc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest parameters Argon2 accepts: keeps tests fast.
    fn fast() -> PasswordPolicy {
        PasswordPolicy::new(8, 1, 1).unwrap()
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s)
    }

    #[test]
    fn default_policy_is_owasp_argon2id() {
        let policy = PasswordPolicy::default();
        assert_eq!(
            (policy.m_cost_kib(), policy.t_cost(), policy.p_cost()),
            (19456, 2, 1)
        );
    }

    #[test]
    fn hash_is_an_argon2id_phc_string_with_the_policy_parameters() {
        let phc = fast().hash(&secret("correct horse")).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
    }

    #[test]
    fn correct_password_verifies_and_wrong_one_does_not() {
        let policy = fast();
        let phc = policy.hash(&secret("correct horse")).unwrap();
        assert_eq!(policy.verify(&secret("correct horse"), &phc), Ok(true));
        assert_eq!(policy.verify(&secret("correct horsf"), &phc), Ok(false));
        assert_eq!(policy.verify(&secret(""), &phc), Ok(false));
    }

    #[test]
    fn same_password_hashes_differently_each_time() {
        let policy = fast();
        assert_ne!(
            policy.hash(&secret("pw")).unwrap(),
            policy.hash(&secret("pw")).unwrap()
        );
    }

    #[test]
    fn verification_uses_the_parameters_stored_in_the_hash() {
        let old = PasswordPolicy::new(16, 1, 1)
            .unwrap()
            .hash(&secret("pw"))
            .unwrap();
        assert_eq!(fast().verify(&secret("pw"), &old), Ok(true));
    }

    #[test]
    fn malformed_stored_hash_is_an_error_not_a_wrong_password() {
        let policy = fast();
        let valid = policy.hash(&secret("pw")).unwrap();
        let without_output = valid.rsplit_once('$').unwrap().0;
        for phc in [
            "",
            "not a hash",
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
            "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
            without_output,
            &valid.replace("m=8", "m=oops"),
        ] {
            assert!(
                matches!(
                    policy.verify(&secret("pw"), phc),
                    Err(CryptoError::Password { .. })
                ),
                "{phc:?}"
            );
        }
    }

    #[test]
    fn needs_rehash_only_when_the_stored_parameters_differ_from_the_policy() {
        let policy = fast();
        let current = policy.hash(&secret("pw")).unwrap();
        assert!(!policy.needs_rehash(&current));

        let stronger = PasswordPolicy::new(16, 2, 1).unwrap();
        assert!(stronger.needs_rehash(&current));
        assert!(
            PasswordPolicy::new(16, 1, 1)
                .unwrap()
                .needs_rehash(&current)
        );
        assert!(PasswordPolicy::new(8, 2, 1).unwrap().needs_rehash(&current));
        assert!(
            needs_rehash(&current),
            "the default policy is stronger than the test policy"
        );

        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, policy.params.clone())
            .hash_password_with_salt(b"pw", b"saltsaltsaltsalt")
            .unwrap()
            .to_string();
        assert!(policy.needs_rehash(&argon2i));
        assert_eq!(policy.verify(&secret("pw"), &argon2i), Ok(true));

        assert!(policy.needs_rehash("garbage"));
    }

    #[test]
    fn invalid_policy_parameters_are_refused() {
        assert!(matches!(
            PasswordPolicy::new(0, 1, 1),
            Err(CryptoError::Password { .. })
        ));
        assert!(matches!(
            PasswordPolicy::new(8, 0, 1),
            Err(CryptoError::Password { .. })
        ));
        assert!(matches!(
            PasswordPolicy::new(8, 1, 0),
            Err(CryptoError::Password { .. })
        ));
    }
}
