//! Value types and typed ids: input is parsed once, at the edge, into types that cannot hold an
//! invalid value.
//!
//! Every string-backed type here ([`Email`], [`Slug`], [`CountryCode`], [`LanguageCode`],
//! [`CurrencyCode`], [`HexColor`], [`Timezone`]) has one constructor, `parse`, and every other way
//! in (`FromStr`, serde `Deserialize`, sqlx `Decode`) goes through it. So a function that takes an
//! `Email` never re-checks it, and a value that passed `parse` always satisfies the database's
//! CHECK constraint for its column: the parsers are at least as strict as the migrations, so a
//! write never reaches PostgreSQL only to be refused there with a less helpful error. Parsing also
//! normalises (case, `#rgb` to `#rrggbb`), so equal values compare equal.
//!
//! Reading from the database validates too: a row written by something other than this crate that
//! holds a value `parse` refuses fails to decode, rather than producing a value that breaks the
//! guarantee above.
//!
//! The typed ids ([`UserId`], [`BrandId`], ...) are distinct types over [`Uuid`] so an id of one
//! table cannot be passed where another's is expected.
//!
//! A refused value is an [`InvalidValue`]: which kind of value, and a short reason that never
//! repeats the input (it may be a secret pasted into the wrong field).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef, Postgres};
use uuid::Uuid;

use crate::error::{Error, ValidationErrors};

/// A value was refused by a parser in this module.
///
/// Displays as the reason only; builders put the field path in front of it with
/// [`ValidationErrors::check`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct InvalidValue {
    /// What kind of value was expected, e.g. `"email"`; used as the field name when the error is
    /// turned into [`Error`] directly.
    pub kind: &'static str,
    /// Why it was refused, e.g. `"not a hex colour"`. Never contains the refused input.
    pub reason: Cow<'static, str>,
}

impl InvalidValue {
    /// A refusal with a fixed reason.
    pub const fn new(kind: &'static str, reason: &'static str) -> Self {
        Self {
            kind,
            reason: Cow::Borrowed(reason),
        }
    }
}

impl From<InvalidValue> for Error {
    fn from(err: InvalidValue) -> Self {
        Error::Invalid(ValidationErrors::single(err.kind, err.reason))
    }
}

// ---------------------------------------------------------------------------------------------
// Text helpers
// ---------------------------------------------------------------------------------------------

/// Refuses a NUL character, which PostgreSQL cannot store in `text`.
///
/// Without this a NUL would reach the server and come back as a database error, not as a
/// validation error naming the field. For unbounded `TEXT` columns.
pub fn no_nul(value: &str) -> Result<&str, InvalidValue> {
    if value.contains('\0') {
        Err(InvalidValue::new("text", "must not contain NUL characters"))
    } else {
        Ok(value)
    }
}

/// Refuses a NUL character or more than `max_chars` characters, for a `VARCHAR(max_chars)` column.
///
/// Counts characters (Unicode scalar values), as PostgreSQL does for `VARCHAR(n)`, not bytes.
pub fn text(value: &str, max_chars: usize) -> Result<&str, InvalidValue> {
    no_nul(value)?;
    // A string has at least as many bytes as characters, so the byte length settles most cases
    // without walking the string.
    if value.len() > max_chars && value.chars().count() > max_chars {
        return Err(InvalidValue {
            kind: "text",
            reason: Cow::Owned(format!("is too long (at most {max_chars} characters)")),
        });
    }
    Ok(value)
}

/// An absolute `http` or `https` URL of at most 2048 characters, without whitespace or NUL bytes.
///
/// Deliberately shallow: the spec stores URLs as text for links and images; this refuses what could never
/// be one (a relative path, `javascript:`, pasted prose) without pulling in a URL parser.
pub fn http_url(value: &str) -> Result<&str, InvalidValue> {
    let value = text(value, 2048).map_err(|e| InvalidValue { kind: "url", ..e })?;
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or(InvalidValue::new("url", "not an http(s) URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || value.chars().any(char::is_whitespace) {
        return Err(InvalidValue::new("url", "not an http(s) URL"));
    }
    Ok(value)
}

/// Like [`text`], and also refuses an empty or whitespace-only value.
///
/// Stricter than the `length(trim(x)) > 0` CHECKs in the schema (PostgreSQL's `trim` removes only
/// spaces), so whatever this accepts, they accept.
pub fn non_blank(value: &str, max_chars: usize) -> Result<&str, InvalidValue> {
    text(value, max_chars)?;
    if value.trim().is_empty() {
        return Err(InvalidValue::new("text", "must not be blank"));
    }
    Ok(value)
}

// ---------------------------------------------------------------------------------------------
// Plumbing shared by the string-backed value types
// ---------------------------------------------------------------------------------------------

/// Implements everything that is the same for every string-backed value type, in terms of its
/// `parse` and `as_str`: `FromStr`, `Display`, `AsRef<str>`, `From<T> for String`, ordering by the
/// string form, serde through `parse`, and sqlx as text.
///
/// sqlx is implemented by hand rather than with `#[sqlx(transparent)]` because the derived
/// `Decode` would build the value from whatever the column holds without calling `parse`.
macro_rules! string_value {
    ($name:ident) => {
        impl FromStr for $name {
            type Err = InvalidValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = InvalidValue;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.as_str().to_owned()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name))
                    .field(&self.as_str())
                    .finish()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.as_str() == other.as_str()
            }
        }

        impl Eq for $name {}

        impl Hash for $name {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.as_str().hash(state);
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> Ordering {
                self.as_str().cmp(other.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Self::parse(&s).map_err(|e| {
                    serde::de::Error::custom(format_args!("invalid {}: {}", e.kind, e.reason))
                })
            }
        }

        impl sqlx::Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <String as sqlx::Type<Postgres>>::type_info()
            }

            // Delegating keeps CHAR(n) (bpchar) and VARCHAR columns decodable, not only TEXT.
            fn compatible(ty: &PgTypeInfo) -> bool {
                <String as sqlx::Type<Postgres>>::compatible(ty)
            }
        }

        impl PgHasArrayType for $name {
            fn array_type_info() -> PgTypeInfo {
                <String as PgHasArrayType>::array_type_info()
            }

            fn array_compatible(ty: &PgTypeInfo) -> bool {
                <String as PgHasArrayType>::array_compatible(ty)
            }
        }

        impl sqlx::Encode<'_, Postgres> for $name {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as sqlx::Encode<'_, Postgres>>::encode(self.as_str(), buf)
            }

            fn size_hint(&self) -> usize {
                self.as_str().len()
            }
        }

        impl<'r> sqlx::Decode<'r, Postgres> for $name {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                let s = <&str as sqlx::Decode<'r, Postgres>>::decode(value)?;
                Self::parse(s)
                    .map_err(|e| format!("stored {} is invalid: {}", e.kind, e.reason).into())
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Email
// ---------------------------------------------------------------------------------------------

/// An email address: trimmed, lowercased, at most 255 characters.
///
/// Local part `[a-z0-9._%+-]{1,64}` without a leading or trailing dot or `..`; domain of
/// dot-separated labels `[a-z0-9-]{1,63}` not starting or ending with `-`, ending in a top-level
/// domain of at least two letters. That is stricter than the `users_email_format` CHECK, which
/// (erratum W7) is the second line of defence, not the validator: in particular `|` is refused.
///
/// Lowercasing the whole address (not only the domain) matches the database, whose unique key is
/// on `lower(email)`: two addresses that differ only in case are one account.
#[derive(Clone)]
pub struct Email(String);

string_value!(Email);

impl Email {
    /// The longest address accepted, the width of `users.email`.
    pub const MAX_CHARS: usize = 255;
    /// RFC 5321's limit on the part before the `@`.
    const MAX_LOCAL: usize = 64;
    /// RFC 1035's limit on one DNS label.
    const MAX_LABEL: usize = 63;

    /// Parses and normalises an email address.
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        const fn bad(reason: &'static str) -> InvalidValue {
            InvalidValue::new("email", reason)
        }
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(bad("must not be empty"));
        }
        // Counted before the character checks so an over-long paste gets the reason that helps.
        if trimmed.len() > Self::MAX_CHARS && trimmed.chars().count() > Self::MAX_CHARS {
            return Err(bad("is too long (at most 255 characters)"));
        }
        let email = trimmed.to_ascii_lowercase();
        let Some((local, domain)) = email.split_once('@') else {
            return Err(bad("must contain an @"));
        };
        if domain.contains('@') {
            return Err(bad("must contain only one @"));
        }

        if local.is_empty() {
            return Err(bad("needs a name before the @"));
        }
        if !local
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._%+-".contains(&b))
        {
            return Err(bad(
                "the part before the @ may contain only letters, digits and . _ % + -",
            ));
        }
        if local.len() > Self::MAX_LOCAL {
            return Err(bad(
                "the part before the @ is too long (at most 64 characters)",
            ));
        }
        if local.starts_with('.') || local.ends_with('.') {
            return Err(bad(
                "the part before the @ must not start or end with a dot",
            ));
        }
        if local.contains("..") {
            return Err(bad(
                "the part before the @ must not contain two dots in a row",
            ));
        }

        if domain.is_empty() {
            return Err(bad("needs a domain after the @"));
        }
        if !domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            return Err(bad(
                "the domain may contain only letters, digits, hyphens and dots",
            ));
        }
        let Some((_, tld)) = domain.rsplit_once('.') else {
            return Err(bad("the domain needs a top-level domain, such as .com"));
        };
        for label in domain.split('.') {
            if label.is_empty() {
                return Err(bad("the domain must not contain empty labels"));
            }
            if label.len() > Self::MAX_LABEL {
                return Err(bad("a domain label is too long (at most 63 characters)"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(bad("a domain label must not start or end with a hyphen"));
            }
        }
        if tld.len() < 2 || !tld.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(bad("the top-level domain must be at least two letters"));
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        // parse guarantees exactly one '@'.
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }
}

// ---------------------------------------------------------------------------------------------
// Slug
// ---------------------------------------------------------------------------------------------

/// A URL slug: `^[a-z0-9]+(-[a-z0-9]+)*$`, 1 to 500 characters.
///
/// 500 is the width of `content.slug`; `brands.slug` is 255 wide, which the brand builder checks
/// against [`Slug::BRAND_MAX_CHARS`]. No normalisation: a slug is already in machine form, and
/// silently rewriting one that a user chose would change their URL. Use [`Slug::from_title`] to
/// derive one from free text.
#[derive(Clone)]
pub struct Slug(String);

string_value!(Slug);

impl Slug {
    /// The longest slug accepted, the width of `content.slug`.
    pub const MAX_CHARS: usize = 500;
    /// The width of `brands.slug`.
    pub const BRAND_MAX_CHARS: usize = 255;

    /// Parses a slug exactly as given.
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        const fn bad(reason: &'static str) -> InvalidValue {
            InvalidValue::new("slug", reason)
        }
        if input.is_empty() {
            return Err(bad("must not be empty"));
        }
        if !input
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad(
                "may contain only lowercase letters, digits and hyphens",
            ));
        }
        // ASCII only from here on, so bytes = characters.
        if input.len() > Self::MAX_CHARS {
            return Err(bad("is too long (at most 500 characters)"));
        }
        if input.starts_with('-') || input.ends_with('-') {
            return Err(bad("must not start or end with a hyphen"));
        }
        if input.contains("--") {
            return Err(bad("must not contain two hyphens in a row"));
        }
        Ok(Self(input.to_owned()))
    }

    /// Derives a slug from free text such as a title.
    ///
    /// ASCII letters and digits are kept (lowercased); every run of anything else becomes one
    /// `-`, with none at either end. The result is cut at 500 characters, at a point that leaves no
    /// trailing `-`. `None` when the text has no ASCII letter or digit at all.
    pub fn from_title(title: &str) -> Option<Slug> {
        let mut slug = String::new();
        let mut gap = false;
        for c in title.chars() {
            if !c.is_ascii_alphanumeric() {
                gap = !slug.is_empty();
                continue;
            }
            let needed = if gap { 2 } else { 1 };
            if slug.len() + needed > Self::MAX_CHARS {
                break;
            }
            if gap {
                slug.push('-');
                gap = false;
            }
            slug.push(c.to_ascii_lowercase());
        }
        if slug.is_empty() {
            None
        } else {
            Some(Slug(slug))
        }
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// ---------------------------------------------------------------------------------------------
// Code tables
// ---------------------------------------------------------------------------------------------

/// Parses a code of `len` ASCII letters and looks it up in a sorted `table` after case folding.
fn table_code(
    input: &str,
    len: usize,
    upper: bool,
    table: &'static [&'static str],
    kind: &'static str,
    wrong_shape: &'static str,
    unknown: &'static str,
) -> Result<&'static str, InvalidValue> {
    if input.len() != len || !input.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(InvalidValue::new(kind, wrong_shape));
    }
    let folded = if upper {
        input.to_ascii_uppercase()
    } else {
        input.to_ascii_lowercase()
    };
    table
        .binary_search(&folded.as_str())
        .map(|i| table[i])
        .map_err(|_| InvalidValue::new(kind, unknown))
}

/// An ISO 3166-1 alpha-2 country code, one of the 249 officially assigned; stored uppercase.
///
/// Any letter case is accepted. User-assigned codes such as `XK` or `ZZ` are refused: a brand's
/// market and a claim's countries are matched against real countries.
#[derive(Clone, Copy)]
pub struct CountryCode(&'static str);

string_value!(CountryCode);

impl CountryCode {
    /// Parses a country code in any letter case.
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        table_code(
            input,
            2,
            true,
            &COUNTRY_CODES,
            "country_code",
            "must be a two-letter country code",
            "not an ISO 3166-1 country code",
        )
        .map(Self)
    }

    /// The code, uppercase.
    pub fn as_str(&self) -> &str {
        self.0
    }
}

/// An ISO 639-1 two-letter language code; stored lowercase.
///
/// Any letter case is accepted. The table holds the 183 current codes plus the withdrawn `bh`
/// (Bihari) and `sh` (Serbo-Croatian), which still appear in locale data: refusing them would make
/// such rows unreadable.
#[derive(Clone, Copy)]
pub struct LanguageCode(&'static str);

string_value!(LanguageCode);

impl LanguageCode {
    /// Parses a language code in any letter case.
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        table_code(
            input,
            2,
            false,
            &LANGUAGE_CODES,
            "language_code",
            "must be a two-letter language code",
            "not an ISO 639-1 language code",
        )
        .map(Self)
    }

    /// The code, lowercase.
    pub fn as_str(&self) -> &str {
        self.0
    }
}

/// An ISO 4217 alphabetic currency code; stored uppercase.
///
/// Any letter case is accepted. The table is ISO 4217 list one (current currencies and funds, as
/// published by the Debian `iso-codes` 4.15 data) plus `ZWG` (2024) and `XCG` (2025) added since.
/// Codes in the middle of being withdrawn (e.g. `HRK`, `SLL`, `ZWL`, `ANG`) are kept so that rows
/// written while they were current still decode.
#[derive(Clone, Copy)]
pub struct CurrencyCode(&'static str);

string_value!(CurrencyCode);

impl CurrencyCode {
    /// Parses a currency code in any letter case.
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        table_code(
            input,
            3,
            true,
            &CURRENCY_CODES,
            "currency_code",
            "must be a three-letter currency code",
            "not an ISO 4217 currency code",
        )
        .map(Self)
    }

    /// The code, uppercase.
    pub fn as_str(&self) -> &str {
        self.0
    }
}

// ---------------------------------------------------------------------------------------------
// HexColor
// ---------------------------------------------------------------------------------------------

/// A colour as `#rrggbb`, lowercase.
///
/// Accepts `#rgb` or `#rrggbb` in any case and expands the short form, so one colour has one
/// spelling and comparing two colours compares the colours.
#[derive(Clone)]
pub struct HexColor(String);

string_value!(HexColor);

impl HexColor {
    /// Parses `#rgb` or `#rrggbb`, any case.
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let bad = || InvalidValue::new("hex_color", "not a hex colour (#rgb or #rrggbb)");
        let digits = input.strip_prefix('#').ok_or_else(bad)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let digits = digits.to_ascii_lowercase();
        let mut out = String::with_capacity(7);
        out.push('#');
        match digits.len() {
            3 => digits.chars().for_each(|c| {
                out.push(c);
                out.push(c);
            }),
            6 => out.push_str(&digits),
            _ => return Err(bad()),
        }
        Ok(Self(out))
    }

    /// The colour as `#rrggbb`, lowercase.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// ---------------------------------------------------------------------------------------------
// Timezone
// ---------------------------------------------------------------------------------------------

/// An IANA time zone name, such as `Europe/London`, known to the bundled tz database.
///
/// Validated against `chrono-tz` rather than a hand-written list: the IANA database changes
/// several times a year. Matching ignores ASCII case (`europe/london` is accepted) and the value
/// is stored in the database's spelling. Links such as `US/Eastern` are accepted and kept as
/// given, not resolved to their target. At most 50 characters, the width of `users.timezone`.
#[derive(Clone, Copy)]
pub struct Timezone(chrono_tz::Tz);

string_value!(Timezone);

impl Timezone {
    /// The longest name accepted, the width of `users.timezone`.
    pub const MAX_CHARS: usize = 50;

    /// Parses a zone name, ignoring ASCII case.
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        const fn bad(reason: &'static str) -> InvalidValue {
            InvalidValue::new("timezone", reason)
        }
        if input.is_empty() {
            return Err(bad("must not be empty"));
        }
        if input.len() > Self::MAX_CHARS {
            return Err(bad("is too long (at most 50 characters)"));
        }
        let tz = chrono_tz::Tz::from_str(input)
            .ok()
            .or_else(|| {
                // The exact lookup is a hash probe; only a miscased name pays for the scan.
                chrono_tz::TZ_VARIANTS
                    .iter()
                    .copied()
                    .find(|tz| tz.name().eq_ignore_ascii_case(input))
            })
            .ok_or(bad("not an IANA time zone name"))?;
        // Every zone name in the database is far shorter, but the column width is a hard limit.
        if tz.name().len() > Self::MAX_CHARS {
            return Err(bad("is too long (at most 50 characters)"));
        }
        Ok(Self(tz))
    }

    /// The zone's name.
    pub fn as_str(&self) -> &str {
        self.0.name()
    }

    /// The zone, for converting times with `chrono`.
    pub fn tz(&self) -> chrono_tz::Tz {
        self.0
    }
}

impl Default for Timezone {
    /// UTC, the default of `users.timezone`.
    fn default() -> Self {
        Self(chrono_tz::Tz::UTC)
    }
}

// ---------------------------------------------------------------------------------------------
// Typed ids
// ---------------------------------------------------------------------------------------------

/// Defines one id type per table, so that ids of different tables cannot be mixed up.
macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        ///
        /// A UUID; `new()` makes a random (v4) one. There is deliberately no `Default`: a default
        /// id would be either a random row that does not exist or the nil UUID, both easy to
        /// write by accident.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random (v4) id.
            #[allow(clippy::new_without_default)] // see the type's docs: no Default on purpose
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// Wraps a UUID known to identify a row of this table.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| InvalidValue::new($kind, "not a UUID"))
            }
        }
    };
}

typed_id!(
    /// Identifies a row of `users`.
    UserId,
    "user_id"
);
typed_id!(
    /// Identifies a row of `brands`.
    BrandId,
    "brand_id"
);
typed_id!(
    /// Identifies a row of `user_brand_roles`.
    UserBrandRoleId,
    "user_brand_role_id"
);
typed_id!(
    /// Identifies a row of `brand_vetting_agencies` (an agency that vets one brand's claims).
    VettingAgencyId,
    "vetting_agency_id"
);
typed_id!(
    /// Identifies a row of `content_templates`.
    TemplateId,
    "template_id"
);
typed_id!(
    /// Identifies a row of `workflows`.
    WorkflowId,
    "workflow_id"
);
typed_id!(
    /// Identifies a row of `content`.
    ContentId,
    "content_id"
);
typed_id!(
    /// Identifies a row of `workflow_instances`.
    WorkflowInstanceId,
    "workflow_instance_id"
);
typed_id!(
    /// Identifies a row of `workflow_instance_steps`: one step of one review run.
    ReviewStepId,
    "review_step_id"
);
typed_id!(
    /// Identifies a row of `workflow_decisions`.
    ReviewDecisionId,
    "review_decision_id"
);
typed_id!(
    /// Identifies a row of `workflow_step_assignees`: one user's assignment to one step of a run.
    AssignmentId,
    "assignment_id"
);
typed_id!(
    /// Identifies a row of `workflow_outbox`: one notification for a host to deliver.
    NotificationId,
    "notification_id"
);
typed_id!(
    /// Identifies a row of `claims`.
    ClaimId,
    "claim_id"
);
typed_id!(
    /// Identifies a row of `events`, the audit trail.
    EventId,
    "event_id"
);
typed_id!(
    /// Identifies a row of `ai_generations`.
    AiGenerationId,
    "ai_generation_id"
);
typed_id!(
    /// Identifies a row of `compliance_checks` (one recorded check of a content version).
    ComplianceCheckId,
    "compliance_check_id"
);

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

/// ISO 3166-1 alpha-2, officially assigned codes, sorted for binary search. Generated from the
/// Debian iso-codes 4.15 data (`iso_3166-1.json`).
const COUNTRY_CODES: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// ISO 639-1, sorted; from iso-codes 4.15 (`iso_639-2.json` `alpha_2`, which includes `bh`) plus
/// `sh`.
const LANGUAGE_CODES: [&str; 185] = [
    "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg", "bh",
    "bi", "bm", "bn", "bo", "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy", "da",
    "de", "dv", "dz", "ee", "el", "en", "eo", "es", "et", "eu", "fa", "ff", "fi", "fj", "fo", "fr",
    "fy", "ga", "gd", "gl", "gn", "gu", "gv", "ha", "he", "hi", "ho", "hr", "ht", "hu", "hy", "hz",
    "ia", "id", "ie", "ig", "ii", "ik", "io", "is", "it", "iu", "ja", "jv", "ka", "kg", "ki", "kj",
    "kk", "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw", "ky", "la", "lb", "lg", "li", "ln",
    "lo", "lt", "lu", "lv", "mg", "mh", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "na", "nb",
    "nd", "ne", "ng", "nl", "nn", "no", "nr", "nv", "ny", "oc", "oj", "om", "or", "os", "pa", "pi",
    "pl", "ps", "pt", "qu", "rm", "rn", "ro", "ru", "rw", "sa", "sc", "sd", "se", "sg", "sh", "si",
    "sk", "sl", "sm", "sn", "so", "sq", "sr", "ss", "st", "su", "sv", "sw", "ta", "te", "tg", "th",
    "ti", "tk", "tl", "tn", "to", "tr", "ts", "tt", "tw", "ty", "ug", "uk", "ur", "uz", "ve", "vi",
    "vo", "wa", "wo", "xh", "yi", "yo", "za", "zh", "zu",
];

/// ISO 4217 alphabetic, sorted; from iso-codes 4.15 (`iso_4217.json`) plus `ZWG` and `XCG`.
const CURRENCY_CODES: [&str; 183] = [
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HRK", "HTG", "HUF", "IDR",
    "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW",
    "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA",
    "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD",
    "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG",
    "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE",
    "SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP",
    "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED",
    "VES", "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG",
    "XDR", "XOF", "XPD", "XPF", "XPT", "XSU", "XTS", "XUA", "XXX", "YER", "ZAR", "ZMW", "ZWG",
    "ZWL",
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use regex::Regex;
    use std::sync::LazyLock;

    // The CHECK constraints of the migrations, verbatim; `(?i)` stands for PostgreSQL's `~*`.
    static DB_EMAIL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$").unwrap()
    });
    static DB_SLUG: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[a-z0-9]+(-[a-z0-9]+)*$").unwrap());
    static DB_COUNTRY: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Z]{2}$").unwrap());
    static DB_LANGUAGE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-z]{2}$").unwrap());
    static DB_CURRENCY: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Z]{3}$").unwrap());
    // No CHECK on brand colours (they live in JSONB); this is the form the type promises.
    static HEX_FORM: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^#[0-9a-f]{6}$").unwrap());

    fn refused<T: fmt::Debug>(result: Result<T, InvalidValue>, kind: &str, reason: &str) {
        match result {
            Ok(v) => panic!("expected {kind} to be refused ({reason}), got {v:?}"),
            Err(e) => {
                assert_eq!(e.kind, kind);
                assert_eq!(e.reason, reason);
            }
        }
    }

    /// Changes the case of each ASCII letter according to `mask`.
    fn recase(s: &str, mask: &[bool]) -> String {
        s.chars()
            .zip(mask.iter().cycle())
            .map(|(c, &up)| {
                if up {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    }

    /// The `Display` form, so round trips test `Display` rather than `as_str`.
    fn displayed<T: fmt::Display>(value: &T) -> String {
        value.to_string()
    }

    fn json_round_trip<T>(value: &T)
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + fmt::Debug,
    {
        let json = serde_json::to_string(value).unwrap();
        let back: T = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, value);
    }

    // ---- strategies for valid input ------------------------------------------------------------

    fn valid_email() -> impl Strategy<Value = String> {
        let local = "[a-z0-9%+_-]{1,20}(\\.[a-z0-9%+_-]{1,20}){0,2}";
        let label = "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?";
        (local, prop::collection::vec(label, 0..3), "[a-z]{2,8}").prop_map(|(l, labels, tld)| {
            let mut domain = labels.join(".");
            if domain.is_empty() {
                domain.push_str("example");
            }
            format!("{l}@{domain}.{tld}")
        })
    }

    fn valid_slug() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,12}(-[a-z0-9]{1,12}){0,6}"
    }

    fn valid_timezone() -> impl Strategy<Value = chrono_tz::Tz> {
        prop::sample::select(&chrono_tz::TZ_VARIANTS[..])
    }

    // ---- email ---------------------------------------------------------------------------------

    proptest! {
        #[test]
        fn email_valid_addresses_round_trip(s in valid_email(), mask in prop::collection::vec(any::<bool>(), 1..8)) {
            let typed = recase(&s, &mask);
            let email = Email::parse(&typed).unwrap();
            prop_assert_eq!(email.as_str(), s.as_str());
            prop_assert_eq!(Email::parse(&displayed(&email)).unwrap(), email.clone());
            prop_assert!(DB_EMAIL.is_match(email.as_str()));
            json_round_trip(&email);
        }

        #[test]
        fn email_accepts_only_what_the_db_check_accepts_from_arbitrary_strings(s in any::<String>()) {
            check_email(&s)?;
        }

        #[test]
        fn email_accepts_only_what_the_db_check_accepts_from_near_misses(
            s in "[ a-zA-Z0-9._%+|@-]{0,20}@[a-zA-Z0-9.|_-]{0,20}\\.[a-zA-Z0-9]{0,4}"
        ) {
            check_email(&s)?;
        }
    }

    fn check_email(s: &str) -> Result<(), TestCaseError> {
        match Email::parse(s) {
            Ok(email) => {
                prop_assert!(DB_EMAIL.is_match(email.as_str()), "{email:?}");
                prop_assert!(email.as_str().chars().count() <= 255);
                prop_assert_eq!(email.as_str(), email.as_str().to_lowercase());
            }
            Err(e) => prop_assert_eq!(e.kind, "email"),
        }
        Ok(())
    }

    #[test]
    fn email_is_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Foo@Example.COM\n").unwrap().as_str(),
            "foo@example.com"
        );
        assert_eq!(
            Email::parse("Foo@Example.COM").unwrap().domain(),
            "example.com"
        );
    }

    #[test]
    fn email_refuses_bad_addresses_with_reasons() {
        let e = "email";
        refused(Email::parse(""), e, "must not be empty");
        refused(Email::parse("   "), e, "must not be empty");
        refused(Email::parse("plainaddress"), e, "must contain an @");
        refused(
            Email::parse("a@b@example.com"),
            e,
            "must contain only one @",
        );
        refused(Email::parse("@example.com"), e, "needs a name before the @");
        refused(
            Email::parse("a|b@example.com"),
            e,
            "the part before the @ may contain only letters, digits and . _ % + -",
        );
        refused(
            Email::parse("a\0b@example.com"),
            e,
            "the part before the @ may contain only letters, digits and . _ % + -",
        );
        refused(
            Email::parse("jos\u{e9}@example.com"),
            e,
            "the part before the @ may contain only letters, digits and . _ % + -",
        );
        refused(
            Email::parse(&format!("{}@example.com", "a".repeat(65))),
            e,
            "the part before the @ is too long (at most 64 characters)",
        );
        refused(
            Email::parse(".a@example.com"),
            e,
            "the part before the @ must not start or end with a dot",
        );
        refused(
            Email::parse("a.@example.com"),
            e,
            "the part before the @ must not start or end with a dot",
        );
        refused(
            Email::parse("a..b@example.com"),
            e,
            "the part before the @ must not contain two dots in a row",
        );
        refused(Email::parse("a@"), e, "needs a domain after the @");
        refused(
            Email::parse("a@exa|mple.com"),
            e,
            "the domain may contain only letters, digits, hyphens and dots",
        );
        refused(
            Email::parse("a@example.c|m"),
            e,
            "the domain may contain only letters, digits, hyphens and dots",
        );
        refused(
            Email::parse("a@exam_ple.com"),
            e,
            "the domain may contain only letters, digits, hyphens and dots",
        );
        refused(
            Email::parse("a@localhost"),
            e,
            "the domain needs a top-level domain, such as .com",
        );
        refused(
            Email::parse("a@example..com"),
            e,
            "the domain must not contain empty labels",
        );
        refused(
            Email::parse("a@.example.com"),
            e,
            "the domain must not contain empty labels",
        );
        refused(
            Email::parse("a@example.com."),
            e,
            "the domain must not contain empty labels",
        );
        refused(
            Email::parse("a@-example.com"),
            e,
            "a domain label must not start or end with a hyphen",
        );
        refused(
            Email::parse("a@example-.com"),
            e,
            "a domain label must not start or end with a hyphen",
        );
        refused(
            Email::parse(&format!("a@{}.com", "b".repeat(64))),
            e,
            "a domain label is too long (at most 63 characters)",
        );
        refused(
            Email::parse("a@example.c"),
            e,
            "the top-level domain must be at least two letters",
        );
        refused(
            Email::parse("a@example.c0m"),
            e,
            "the top-level domain must be at least two letters",
        );
        let long = format!(
            "{}@{}.{}.{}.{}.com",
            "a".repeat(60),
            "b".repeat(60),
            "c".repeat(60),
            "d".repeat(60),
            "e".repeat(10)
        );
        assert!(long.len() > 255);
        refused(
            Email::parse(&long),
            e,
            "is too long (at most 255 characters)",
        );
    }

    #[test]
    fn email_at_the_length_limit_is_accepted() {
        let at_limit = format!(
            "{}@{}.{}.{}.{}.com",
            "a".repeat(60),
            "b".repeat(60),
            "c".repeat(60),
            "d".repeat(60),
            "e".repeat(7)
        );
        assert_eq!(at_limit.len(), 255);
        assert!(Email::parse(&at_limit).is_ok());
    }

    #[test]
    fn email_refusal_reasons_never_echo_the_input() {
        let secret = "sk-live-SECRET|token";
        let err = Email::parse(secret).unwrap_err();
        assert!(!err.to_string().contains("SECRET"));
        assert!(!format!("{err:?}").contains("SECRET"));
    }

    // ---- slug ----------------------------------------------------------------------------------

    proptest! {
        #[test]
        fn slug_valid_slugs_round_trip(s in valid_slug()) {
            let slug = Slug::parse(&s).unwrap();
            prop_assert_eq!(slug.as_str(), s.as_str());
            prop_assert_eq!(Slug::parse(&displayed(&slug)).unwrap(), slug.clone());
            json_round_trip(&slug);
        }

        #[test]
        fn slug_accepts_only_what_the_db_check_accepts(s in any::<String>()) {
            check_slug(&s)?;
        }

        #[test]
        fn slug_accepts_only_what_the_db_check_accepts_from_near_misses(s in "[a-z0-9A-Z_ -]{0,30}") {
            check_slug(&s)?;
        }

        #[test]
        fn slug_from_title_always_yields_a_valid_slug(s in any::<String>()) {
            check_from_title(&s)?;
        }

        #[test]
        fn slug_from_title_always_yields_a_valid_slug_from_long_wordy_titles(s in "([A-Za-z0-9]{1,9}[ ,.!-]{1,3}){40,120}") {
            check_from_title(&s)?;
        }
    }

    fn check_slug(s: &str) -> Result<(), TestCaseError> {
        match Slug::parse(s) {
            Ok(slug) => {
                prop_assert!(DB_SLUG.is_match(slug.as_str()));
                prop_assert!(slug.as_str().len() <= Slug::MAX_CHARS);
                prop_assert_eq!(slug.as_str(), s);
            }
            Err(e) => prop_assert_eq!(e.kind, "slug"),
        }
        Ok(())
    }

    fn check_from_title(s: &str) -> Result<(), TestCaseError> {
        match Slug::from_title(s) {
            Some(slug) => {
                prop_assert!(DB_SLUG.is_match(slug.as_str()), "{slug:?}");
                prop_assert!(slug.as_str().len() <= Slug::MAX_CHARS);
                prop_assert_eq!(Slug::parse(slug.as_str()).unwrap(), slug);
            }
            None => prop_assert!(!s.chars().any(|c| c.is_ascii_alphanumeric())),
        }
        Ok(())
    }

    #[test]
    fn slug_from_title_slugifies() {
        let slug = |t: &str| Slug::from_title(t).map(|s| s.as_str().to_owned());
        assert_eq!(slug("Hello, World!").as_deref(), Some("hello-world"));
        assert_eq!(
            slug("  --Summer   Sale 2025--  ").as_deref(),
            Some("summer-sale-2025")
        );
        assert_eq!(slug("Caf\u{e9} au lait").as_deref(), Some("caf-au-lait"));
        assert_eq!(slug("a\0b").as_deref(), Some("a-b"));
        assert_eq!(slug("!!! ---"), None);
        assert_eq!(slug(""), None);
    }

    #[test]
    fn slug_from_title_truncates_to_500_without_a_trailing_hyphen() {
        // 499 letters then a separator: cutting at 500 would leave "...a-".
        let title = format!("{} b", "a".repeat(499));
        let slug = Slug::from_title(&title).unwrap();
        assert_eq!(slug.as_str(), "a".repeat(499));
        let title = "word ".repeat(200);
        let slug = Slug::from_title(&title).unwrap();
        assert!(slug.as_str().len() <= 500 && !slug.as_str().ends_with('-'));
        assert_eq!(
            Slug::from_title(&"x".repeat(600)).unwrap().as_str().len(),
            500
        );
    }

    #[test]
    fn slug_refuses_bad_slugs_with_reasons() {
        let k = "slug";
        refused(Slug::parse(""), k, "must not be empty");
        refused(
            Slug::parse("a--b"),
            k,
            "must not contain two hyphens in a row",
        );
        refused(Slug::parse("-ab"), k, "must not start or end with a hyphen");
        refused(Slug::parse("ab-"), k, "must not start or end with a hyphen");
        refused(
            Slug::parse("Ab"),
            k,
            "may contain only lowercase letters, digits and hyphens",
        );
        refused(
            Slug::parse("a b"),
            k,
            "may contain only lowercase letters, digits and hyphens",
        );
        refused(
            Slug::parse("a_b"),
            k,
            "may contain only lowercase letters, digits and hyphens",
        );
        refused(
            Slug::parse("a\0b"),
            k,
            "may contain only lowercase letters, digits and hyphens",
        );
        refused(
            Slug::parse(&"a".repeat(501)),
            k,
            "is too long (at most 500 characters)",
        );
        assert!(Slug::parse(&"a".repeat(500)).is_ok());
    }

    // ---- code tables ---------------------------------------------------------------------------

    #[test]
    fn code_tables_are_sorted_unique_and_complete() {
        fn sorted_unique(table: &[&str]) -> bool {
            table.windows(2).all(|w| w[0] < w[1])
        }
        assert!(sorted_unique(&COUNTRY_CODES) && COUNTRY_CODES.len() == 249);
        assert!(COUNTRY_CODES.iter().all(|c| DB_COUNTRY.is_match(c)));
        assert!(sorted_unique(&LANGUAGE_CODES) && LANGUAGE_CODES.len() == 185);
        assert!(LANGUAGE_CODES.iter().all(|c| DB_LANGUAGE.is_match(c)));
        assert!(sorted_unique(&CURRENCY_CODES));
        assert!(CURRENCY_CODES.iter().all(|c| DB_CURRENCY.is_match(c)));
    }

    proptest! {
        #[test]
        fn country_code_every_listed_code_round_trips_in_any_case(
            code in prop::sample::select(&COUNTRY_CODES[..]), mask in prop::collection::vec(any::<bool>(), 2)
        ) {
            let parsed = CountryCode::parse(&recase(code, &mask)).unwrap();
            prop_assert_eq!(parsed.as_str(), code);
            prop_assert_eq!(CountryCode::parse(&displayed(&parsed)).unwrap(), parsed);
            json_round_trip(&parsed);
        }

        #[test]
        fn country_code_accepts_only_listed_codes(s in prop_oneof![any::<String>(), "[a-zA-Z]{1,3}"]) {
            match CountryCode::parse(&s) {
                Ok(c) => prop_assert!(DB_COUNTRY.is_match(c.as_str()) && COUNTRY_CODES.contains(&c.as_str())),
                Err(e) => prop_assert_eq!(e.kind, "country_code"),
            }
        }

        #[test]
        fn language_code_every_listed_code_round_trips_in_any_case(
            code in prop::sample::select(&LANGUAGE_CODES[..]), mask in prop::collection::vec(any::<bool>(), 2)
        ) {
            let parsed = LanguageCode::parse(&recase(code, &mask)).unwrap();
            prop_assert_eq!(parsed.as_str(), code);
            prop_assert_eq!(LanguageCode::parse(&displayed(&parsed)).unwrap(), parsed);
            json_round_trip(&parsed);
        }

        #[test]
        fn language_code_accepts_only_listed_codes(s in prop_oneof![any::<String>(), "[a-zA-Z]{1,3}"]) {
            match LanguageCode::parse(&s) {
                Ok(c) => prop_assert!(DB_LANGUAGE.is_match(c.as_str()) && LANGUAGE_CODES.contains(&c.as_str())),
                Err(e) => prop_assert_eq!(e.kind, "language_code"),
            }
        }

        #[test]
        fn currency_code_every_listed_code_round_trips_in_any_case(
            code in prop::sample::select(&CURRENCY_CODES[..]), mask in prop::collection::vec(any::<bool>(), 3)
        ) {
            let parsed = CurrencyCode::parse(&recase(code, &mask)).unwrap();
            prop_assert_eq!(parsed.as_str(), code);
            prop_assert_eq!(CurrencyCode::parse(&displayed(&parsed)).unwrap(), parsed);
            json_round_trip(&parsed);
        }

        #[test]
        fn currency_code_accepts_only_listed_codes(s in prop_oneof![any::<String>(), "[a-zA-Z]{2,4}"]) {
            match CurrencyCode::parse(&s) {
                Ok(c) => prop_assert!(DB_CURRENCY.is_match(c.as_str()) && CURRENCY_CODES.contains(&c.as_str())),
                Err(e) => prop_assert_eq!(e.kind, "currency_code"),
            }
        }
    }

    #[test]
    fn codes_are_normalised_to_their_stored_case() {
        assert_eq!(CountryCode::parse("gb").unwrap().as_str(), "GB");
        assert_eq!(CountryCode::parse("Us").unwrap().as_str(), "US");
        assert_eq!(LanguageCode::parse("EN").unwrap().as_str(), "en");
        assert_eq!(CurrencyCode::parse("eur").unwrap().as_str(), "EUR");
    }

    #[test]
    fn codes_refuse_unknown_or_malformed_input_with_reasons() {
        let (c, l, u) = ("country_code", "language_code", "currency_code");
        refused(
            CountryCode::parse("XX"),
            c,
            "not an ISO 3166-1 country code",
        );
        refused(
            CountryCode::parse("XK"),
            c,
            "not an ISO 3166-1 country code",
        );
        refused(
            CountryCode::parse("UK"),
            c,
            "not an ISO 3166-1 country code",
        );
        refused(
            CountryCode::parse("GBR"),
            c,
            "must be a two-letter country code",
        );
        refused(
            CountryCode::parse(""),
            c,
            "must be a two-letter country code",
        );
        refused(
            CountryCode::parse("G\0"),
            c,
            "must be a two-letter country code",
        );
        refused(
            CountryCode::parse(" GB"),
            c,
            "must be a two-letter country code",
        );
        refused(
            CountryCode::parse("\u{c9}"),
            c,
            "must be a two-letter country code",
        );
        refused(
            LanguageCode::parse("xx"),
            l,
            "not an ISO 639-1 language code",
        );
        refused(
            LanguageCode::parse("eng"),
            l,
            "must be a two-letter language code",
        );
        refused(
            LanguageCode::parse("e1"),
            l,
            "must be a two-letter language code",
        );
        refused(
            CurrencyCode::parse("ABC"),
            u,
            "not an ISO 4217 currency code",
        );
        refused(
            CurrencyCode::parse("EU"),
            u,
            "must be a three-letter currency code",
        );
        refused(
            CurrencyCode::parse("EU\0"),
            u,
            "must be a three-letter currency code",
        );
    }

    // ---- hex colour ----------------------------------------------------------------------------

    proptest! {
        #[test]
        fn hex_color_valid_colours_round_trip(s in "#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})") {
            let color = HexColor::parse(&s).unwrap();
            prop_assert!(HEX_FORM.is_match(color.as_str()));
            if s.len() == 7 {
                prop_assert_eq!(color.as_str(), s.to_ascii_lowercase());
            }
            prop_assert_eq!(HexColor::parse(&displayed(&color)).unwrap(), color.clone());
            json_round_trip(&color);
        }

        #[test]
        fn hex_color_accepts_only_hex_colours(s in prop_oneof![any::<String>(), "#?[0-9a-zA-Z]{0,8}"]) {
            match HexColor::parse(&s) {
                Ok(c) => prop_assert!(HEX_FORM.is_match(c.as_str())),
                Err(e) => prop_assert_eq!(e.kind, "hex_color"),
            }
        }
    }

    #[test]
    fn hex_color_is_expanded_and_lowercased() {
        assert_eq!(HexColor::parse("#ABC").unwrap().as_str(), "#aabbcc");
        assert_eq!(HexColor::parse("#A1b2C3").unwrap().as_str(), "#a1b2c3");
        assert_eq!(
            HexColor::parse("#abc").unwrap(),
            HexColor::parse("#AABBCC").unwrap()
        );
    }

    #[test]
    fn hex_color_refuses_non_colours() {
        for bad in [
            "#ggg",
            "abc",
            "aabbcc",
            "#abcd",
            "#abcdef0",
            "#",
            "",
            "#ab\0",
            "# abc",
            "#\u{663}\u{663}\u{663}",
        ] {
            refused(
                HexColor::parse(bad),
                "hex_color",
                "not a hex colour (#rgb or #rrggbb)",
            );
        }
    }

    // ---- time zone -----------------------------------------------------------------------------

    proptest! {
        #[test]
        fn timezone_every_known_zone_round_trips(tz in valid_timezone(), mask in prop::collection::vec(any::<bool>(), 1..6)) {
            let zone = Timezone::parse(tz.name()).unwrap();
            prop_assert_eq!(zone.as_str(), tz.name());
            prop_assert_eq!(zone.tz(), tz);
            prop_assert_eq!(Timezone::parse(&displayed(&zone)).unwrap(), zone);
            json_round_trip(&zone);
            // Unambiguous because no two zone names differ only in case (tested below).
            prop_assert_eq!(Timezone::parse(&recase(tz.name(), &mask)).unwrap(), zone);
        }

        #[test]
        fn timezone_accepts_only_known_zone_names(s in prop_oneof![any::<String>(), "[A-Za-z_]{1,12}/[A-Za-z_]{1,12}"]) {
            match Timezone::parse(&s) {
                Ok(z) => {
                    prop_assert!(z.as_str().len() <= Timezone::MAX_CHARS);
                    prop_assert!(chrono_tz::TZ_VARIANTS.iter().any(|tz| tz.name() == z.as_str()));
                }
                Err(e) => prop_assert_eq!(e.kind, "timezone"),
            }
        }
    }

    #[test]
    fn timezone_matches_case_insensitively_and_stores_the_database_spelling() {
        assert_eq!(
            Timezone::parse("europe/london").unwrap().as_str(),
            "Europe/London"
        );
        assert_eq!(Timezone::parse("UTC").unwrap(), Timezone::default());
        assert_eq!(
            Timezone::parse("America/Argentina/Buenos_Aires")
                .unwrap()
                .as_str(),
            "America/Argentina/Buenos_Aires"
        );
    }

    #[test]
    fn timezone_refuses_unknown_names_with_reasons() {
        let k = "timezone";
        refused(Timezone::parse(""), k, "must not be empty");
        refused(
            Timezone::parse("Mars/Olympus_Mons"),
            k,
            "not an IANA time zone name",
        );
        refused(
            Timezone::parse("Europe/London\0"),
            k,
            "not an IANA time zone name",
        );
        refused(
            Timezone::parse(" Europe/London"),
            k,
            "not an IANA time zone name",
        );
        refused(
            Timezone::parse(&"A".repeat(51)),
            k,
            "is too long (at most 50 characters)",
        );
    }

    #[test]
    fn no_two_zone_names_differ_only_in_case() {
        let mut names: Vec<String> = chrono_tz::TZ_VARIANTS
            .iter()
            .map(|tz| tz.name().to_ascii_lowercase())
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), chrono_tz::TZ_VARIANTS.len());
    }

    #[test]
    fn every_known_zone_name_fits_the_column() {
        assert!(
            chrono_tz::TZ_VARIANTS
                .iter()
                .all(|tz| tz.name().len() <= Timezone::MAX_CHARS)
        );
    }

    // ---- text helpers --------------------------------------------------------------------------

    proptest! {
        #[test]
        fn text_accepts_exactly_nul_free_strings_within_the_character_limit(s in any::<String>(), max in 0usize..40) {
            let fits = !s.contains('\0') && s.chars().count() <= max;
            prop_assert_eq!(text(&s, max).is_ok(), fits);
            prop_assert_eq!(non_blank(&s, max).is_ok(), fits && !s.trim().is_empty());
            prop_assert_eq!(no_nul(&s).is_ok(), !s.contains('\0'));
            if let Err(e) = text(&s, max) {
                prop_assert_eq!(e.kind, "text");
            }
        }
    }

    #[test]
    fn text_counts_characters_not_bytes() {
        let five_chars = "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}"; // ten bytes
        assert_eq!(text(five_chars, 5), Ok(five_chars));
        refused(
            text(five_chars, 4),
            "text",
            "is too long (at most 4 characters)",
        );
    }

    #[test]
    fn text_helpers_refuse_nul_and_blank() {
        refused(no_nul("a\0b"), "text", "must not contain NUL characters");
        refused(text("a\0b", 10), "text", "must not contain NUL characters");
        refused(
            non_blank("\0", 10),
            "text",
            "must not contain NUL characters",
        );
        refused(non_blank("", 10), "text", "must not be blank");
        refused(non_blank(" \t\n", 10), "text", "must not be blank");
        assert_eq!(non_blank(" x ", 10), Ok(" x "));
    }

    // ---- errors --------------------------------------------------------------------------------

    #[test]
    fn invalid_value_converts_into_a_validation_error_naming_the_kind() {
        fn register(email: &str) -> crate::Result<Email> {
            Ok(Email::parse(email)?)
        }
        let err = register("x").unwrap_err();
        let report = err.validation().expect("Error::Invalid");
        assert_eq!(report.errors().len(), 1);
        assert_eq!(report.errors()[0].field, "email");
        assert_eq!(report.errors()[0].reason, "must contain an @");
    }

    #[test]
    fn invalid_value_displays_only_the_reason_so_builders_can_prefix_the_field() {
        let mut report = ValidationErrors::new();
        assert!(
            report
                .check("colors.primary", HexColor::parse("#ggg"))
                .is_none()
        );
        assert_eq!(
            report.to_string(),
            "colors.primary: not a hex colour (#rgb or #rrggbb)"
        );
    }

    #[test]
    fn deserializing_goes_through_parse() {
        assert!(serde_json::from_str::<HexColor>("\"#ggg\"").is_err());
        assert!(serde_json::from_str::<Email>("\"a|b@example.com\"").is_err());
        assert!(serde_json::from_str::<CountryCode>("\"XX\"").is_err());
        assert!(serde_json::from_str::<Slug>("\"a--b\"").is_err());
        assert!(serde_json::from_str::<Timezone>("\"Nowhere\"").is_err());
        assert_eq!(
            serde_json::from_str::<CountryCode>("\"gb\"")
                .unwrap()
                .as_str(),
            "GB"
        );
        assert_eq!(
            serde_json::to_string(&HexColor::parse("#ABC").unwrap()).unwrap(),
            "\"#aabbcc\""
        );
        let err = serde_json::from_str::<Email>("\"secret-token\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("invalid email") && !err.contains("secret-token"),
            "{err}"
        );
    }

    // ---- ids -----------------------------------------------------------------------------------

    proptest! {
        #[test]
        fn ids_round_trip_through_display_from_str_and_json(bytes in any::<[u8; 16]>()) {
            let uuid = Uuid::from_bytes(bytes);
            let id = BrandId::from_uuid(uuid);
            prop_assert_eq!(id.to_string(), uuid.to_string());
            prop_assert_eq!(id.to_string().parse::<BrandId>().unwrap(), id);
            prop_assert_eq!(Uuid::from(id), uuid);
            prop_assert_eq!(BrandId::from(uuid).as_uuid(), uuid);
            prop_assert_eq!(serde_json::to_string(&id).unwrap(), serde_json::to_string(&uuid).unwrap());
            json_round_trip(&id);
        }

        #[test]
        fn id_parsing_never_panics(s in any::<String>()) {
            if let Err(e) = s.parse::<UserId>() {
                prop_assert_eq!(e.kind, "user_id");
            }
        }
    }

    #[test]
    fn ids_debug_names_the_table_type() {
        let uuid = Uuid::new_v4();
        assert_eq!(
            format!("{:?}", ContentId::from_uuid(uuid)),
            format!("ContentId({uuid})")
        );
        assert_ne!(UserId::new(), UserId::new());
        refused("nope".parse::<ClaimId>(), "claim_id", "not a UUID");
    }

    // ---- sqlx ----------------------------------------------------------------------------------

    #[test]
    fn ids_and_id_arrays_bind_as_uuid_and_uuid_array() {
        use sqlx::Type;
        assert_eq!(BrandId::type_info(), Uuid::type_info());
        assert_eq!(
            <Vec<BrandId> as Type<Postgres>>::type_info(),
            <Vec<Uuid> as Type<Postgres>>::type_info()
        );
        assert_eq!(
            <&[BrandId] as Type<Postgres>>::type_info(),
            <Vec<Uuid> as Type<Postgres>>::type_info()
        );
        // Only builds the queries: proves the binds type-check without a database.
        let ids = vec![BrandId::new(), BrandId::new()];
        let _ = sqlx::query("select $1::uuid[], $2::uuid[], $3::uuid")
            .bind(ids.clone())
            .bind(&ids[..])
            .bind(UserId::new());
    }

    #[test]
    fn value_types_bind_as_text_and_decode_from_char_and_varchar() {
        use sqlx::Type;
        use sqlx::postgres::types::Oid;
        let bpchar = PgTypeInfo::with_oid(Oid(1042));
        let varchar = PgTypeInfo::with_oid(Oid(1043));
        assert_eq!(CountryCode::type_info(), String::type_info());
        assert!(CountryCode::compatible(&bpchar) && CurrencyCode::compatible(&bpchar));
        assert!(LanguageCode::compatible(&bpchar) && Email::compatible(&varchar));
        assert!(Slug::compatible(&varchar) && Timezone::compatible(&varchar));
        assert_eq!(
            <Vec<CountryCode> as Type<Postgres>>::type_info(),
            <Vec<String> as Type<Postgres>>::type_info()
        );
        let _ = sqlx::query("select $1, $2, $3, $4, $5, $6, $7, $8")
            .bind(Email::parse("a@example.com").unwrap())
            .bind(Slug::parse("a-b").unwrap())
            .bind(CountryCode::parse("GB").unwrap())
            .bind(LanguageCode::parse("en").unwrap())
            .bind(CurrencyCode::parse("GBP").unwrap())
            .bind(HexColor::parse("#abc").unwrap())
            .bind(Timezone::default())
            .bind(vec![CountryCode::parse("FR").unwrap()]);
    }
}
