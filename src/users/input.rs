//! What a caller hands in: the raw input of an account, the create and patch builders over it, the one
//! parse, and the list filter.

use serde::{Deserialize, Serialize};

use crate::ValidationErrors;
use crate::input::{Mode, Parser, input};
use crate::page::Deleted;
use crate::types::{Email, LanguageCode, Timezone, http_url, non_blank, text};

/// A validated new user; build one with [`NewUser::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub(crate) values: UserValues,
}

impl NewUser {
    /// Starts a builder; [`NewUserBuilder::build`] reports every problem at once.
    pub fn builder() -> NewUserBuilder {
        NewUserBuilder::default()
    }

    /// The validated address.
    pub fn email(&self) -> &Email {
        self.values
            .email
            .as_ref()
            .expect("a create sets the address")
    }
}

/// A validated change to a user's profile: only what was set is written, and a patch that sets
/// nothing writes nothing. Build one with [`UserPatch::builder`]; apply it with
/// [`UserRepo::update`](super::UserRepo::update).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserPatch {
    pub(crate) values: UserValues,
}

impl UserPatch {
    /// Starts a builder; [`UserPatchBuilder::build`] reports every problem at once.
    pub fn builder() -> UserPatchBuilder {
        UserPatchBuilder::default()
    }

    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Raw input for a [`NewUser`]. Nothing is checked until [`build`](Self::build). Deserialises from
/// the JSON of a [`UserInput`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NewUserBuilder(UserInput);

/// Raw input for a [`UserPatch`]: every setter replaces that part of the profile; unset parts stay.
/// Deserialises from the JSON of a [`UserInput`] (`null` clears a nullable field).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserPatchBuilder(UserInput);

input! {
    /// The raw input of an account, shared by [`NewUserBuilder`] and [`UserPatchBuilder`]: every
    /// field optional, as a request carries it.
    pub struct UserInput;
    builders NewUserBuilder, UserPatchBuilder;
    values UserValues, columns user_input_columns;
    fields {
        /// Sign-in address (required on create; trimmed and lowercased). Not part of the profile: a
        /// patch refuses it.
        email "email": value String => Email, email maybe_email;
        /// Given name (required on create, not blank, at most 100 characters).
        first_name "first_name": value String => String, first_name maybe_first_name;
        /// Family name (required on create, not blank, at most 100 characters).
        last_name "last_name": value String => String, last_name maybe_last_name;
        /// Profile picture: an absolute http(s) URL.
        avatar_url "avatar_url": nullable String => String, avatar_url maybe_avatar_url clear_avatar_url;
        /// Phone number as entered (at most 50 characters).
        phone "phone": nullable String => String, phone maybe_phone clear_phone;
        /// IANA time zone, in any ASCII case (default `UTC`).
        timezone "timezone": value String => Timezone, timezone maybe_timezone;
        /// ISO 639-1 language, in any case (default `en`).
        language "language": value String => LanguageCode, language maybe_language;
    }
}

/// The profile columns: every input column but the address. They are what the application role may
/// update (`GRANT UPDATE` in `migrations/0003_users.sql`), so they are the whole `SET` list of a
/// profile update; a unit test keeps them equal to the input columns after `email`.
macro_rules! user_editable_columns {
    () => {
        "first_name, last_name, avatar_url, phone, timezone, language"
    };
}
pub(crate) use user_editable_columns;

impl NewUserBuilder {
    /// Validates every field, returning all problems together.
    pub fn build(self) -> Result<NewUser, ValidationErrors> {
        Ok(NewUser {
            values: parse(&self.0, Mode::Create)?,
        })
    }
}

impl UserPatchBuilder {
    /// Validates every field that was set, returning all problems together.
    pub fn build(self) -> Result<UserPatch, ValidationErrors> {
        Ok(UserPatch {
            values: parse(&self.0, Mode::Patch)?,
        })
    }
}

/// The one parse of an account input, for a create (required fields, defaults) or a profile patch.
fn parse(input: &UserInput, mode: Mode) -> Result<UserValues, ValidationErrors> {
    let mut p = Parser::new(mode);
    let email = match mode {
        Mode::Create => p.required("email", &input.email, |e| Email::parse(e)),
        Mode::Patch => {
            if input.email.is_some() {
                p.push(
                    "email",
                    "is not part of the profile; cannot be changed here",
                );
            }
            None
        }
    };
    let first_name = p.required("first_name", &input.first_name, |n| {
        owned(non_blank(n, 100))
    });
    let last_name = p.required("last_name", &input.last_name, |n| owned(non_blank(n, 100)));
    let avatar_url = p.nullable("avatar_url", &input.avatar_url, |u| owned(http_url(u)));
    let phone = p.nullable("phone", &input.phone, |v| owned(text(v, 50)));
    let timezone = p.defaulted("timezone", &input.timezone, Timezone::default, |tz| {
        Timezone::parse(tz)
    });
    let language = p.defaulted(
        "language",
        &input.language,
        || LanguageCode::parse("en").expect("en is a language"),
        |l| LanguageCode::parse(l),
    );
    p.finish(UserValues {
        email,
        first_name,
        last_name,
        avatar_url,
        phone,
        timezone,
        language,
    })
}

fn owned<E>(r: Result<&str, E>) -> Result<String, E> {
    r.map(str::to_owned)
}

/// Which users [`UserRepo::list`](super::UserRepo::list) returns, among those the scope may read.
/// Deserialises from a request's query or body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserFilter {
    /// Soft-deleted users too, or only them (default: live users only).
    pub deleted: Deleted,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_editable_columns_are_the_input_columns_after_the_address() {
        assert_eq!(
            user_input_columns!(),
            concat!("email, ", user_editable_columns!())
        );
    }

    #[test]
    fn a_create_requires_address_and_names_and_fills_the_defaults() {
        let err = NewUser::builder().build().unwrap_err();
        let fields: Vec<_> = err.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "first_name", "last_name"], "{err}");
        let new = NewUser::builder()
            .email(" Grace@Navy.MIL ")
            .first_name("Grace")
            .last_name("Hopper")
            .build()
            .unwrap();
        assert_eq!(new.email().as_str(), "grace@navy.mil");
        assert_eq!(
            serde_json::to_value(&new.values).unwrap(),
            serde_json::json!({
                "email": "grace@navy.mil", "first_name": "Grace", "last_name": "Hopper",
                "avatar_url": null, "phone": null, "timezone": "UTC", "language": "en",
            })
        );
    }

    #[test]
    fn a_patch_writes_only_what_is_set_and_refuses_the_address() {
        let patch = UserPatch::builder()
            .clear_phone()
            .maybe_first_name(None::<String>)
            .timezone("europe/london")
            .build()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&patch.values).unwrap(),
            serde_json::json!({"phone": null, "timezone": "Europe/London"})
        );
        assert!(UserPatch::builder().build().unwrap().is_empty());
        let err = UserPatch::builder()
            .email("new@example.com")
            .build()
            .unwrap_err();
        assert!(err.get("email").is_some(), "{err}");
    }

    #[test]
    fn a_patch_reports_every_problem_at_once() {
        let err = UserPatch::builder()
            .first_name(" ")
            .last_name("x".repeat(101))
            .avatar_url("javascript:alert(1)")
            .phone("9".repeat(51))
            .timezone("Mars/Olympus_Mons")
            .language("english")
            .build()
            .unwrap_err();
        let fields: Vec<_> = err.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "first_name",
                "last_name",
                "avatar_url",
                "phone",
                "timezone",
                "language"
            ],
            "{err}"
        );
    }

    #[test]
    fn deserialising_then_building_equals_the_setters() {
        let json = r#"{"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
                       "avatar_url": "https://example.com/ada.png", "timezone": "Europe/London",
                       "language": "en"}"#;
        let from_json: NewUserBuilder = serde_json::from_str(json).unwrap();
        let by_setters = NewUser::builder()
            .email("ada@example.com")
            .first_name("Ada")
            .last_name("Lovelace")
            .avatar_url("https://example.com/ada.png")
            .timezone("Europe/London")
            .language("en");
        assert_eq!(from_json, by_setters);
        assert_eq!(from_json.build().unwrap(), by_setters.build().unwrap());

        let patch: UserPatchBuilder =
            serde_json::from_str(r#"{"avatar_url": null, "first_name": "Augusta"}"#).unwrap();
        assert_eq!(
            patch.build().unwrap(),
            UserPatch::builder()
                .clear_avatar_url()
                .first_name("Augusta")
                .build()
                .unwrap()
        );
        assert!(serde_json::from_str::<UserPatchBuilder>(r#"{"frist_name": "typo"}"#).is_err());
        let filter: UserFilter = serde_json::from_str(r#"{"deleted": "only"}"#).unwrap();
        assert_eq!(filter.deleted, Deleted::Only);
        assert_eq!(
            serde_json::from_str::<UserFilter>("{}").unwrap(),
            UserFilter::default()
        );
    }

    proptest! {
        #[test]
        fn any_input_builds_or_reports_errors_without_panicking(
            email in ".{0,40}", first in proptest::option::of(".{0,12}"),
            avatar in proptest::option::of(".{0,30}"), phone in proptest::option::of(".{0,60}"),
            tz in proptest::option::of(".{0,20}"), lang in proptest::option::of(".{0,3}"),
        ) {
            let new = NewUser::builder().email(email).maybe_first_name(first.clone()).last_name("x")
                .maybe_avatar_url(avatar.clone()).maybe_phone(phone.clone())
                .maybe_timezone(tz.clone()).maybe_language(lang.clone());
            match new.build() {
                Ok(new) => {
                    prop_assert!(!new.values.first_name.unwrap().trim().is_empty());
                    prop_assert!(new.values.timezone.is_some() && new.values.language.is_some());
                }
                Err(e) => prop_assert!(!e.is_empty()),
            }
            let patch = UserPatch::builder().maybe_first_name(first).maybe_avatar_url(avatar)
                .maybe_phone(phone).maybe_timezone(tz).maybe_language(lang);
            match patch.build() {
                Ok(patch) => prop_assert!(patch.values.email.is_none()),
                Err(e) => prop_assert!(!e.is_empty()),
            }
        }
    }
}
