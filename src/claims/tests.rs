//! Builder and value tests (no database); the repository is tested in tests/it/claims.rs.

use super::*;
use chrono::TimeZone;
use proptest::prelude::*;

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

fn minimal() -> NewClaimBuilder {
    NewClaim::builder()
        .claim_type(ClaimType::Product)
        .level(ClaimLevel::Product)
        .status(ClaimStatus::Allowed)
        .text("Rich in fibre")
}

fn fields(err: &ValidationErrors) -> Vec<&str> {
    err.errors().iter().map(|e| e.field.as_str()).collect()
}

#[test]
fn a_full_claim_builds_with_codes_normalised() {
    let product = Uuid::new_v4();
    let new = minimal()
        .translation("FR", "Riche en fibres")
        .translation("de", "Reich an Ballaststoffen")
        .country("gb")
        .country("FR")
        .product(product)
        .ingredient("oats")
        .effective_from(at(2025, 1, 1))
        .effective_to(at(2026, 1, 1))
        .regulatory_reference("EC 1924/2006")
        .documentation_url("https://example.com/fibre.pdf")
        .notes("Reviewed")
        .replacement("fr", "Source de fibres", "Threshold differs")
        .build()
        .unwrap();
    let v = &new.0;
    assert_eq!(v.text.original(), "Rich in fibre");
    let fr = LanguageCode::parse("fr").unwrap();
    assert_eq!(v.text.translation(fr), Some("Riche en fibres"));
    assert_eq!(
        v.text.in_language(LanguageCode::parse("es").unwrap()),
        "Rich in fibre"
    );
    assert_eq!(
        v.countries.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        ["GB", "FR"]
    );
    assert_eq!(v.products, [product]);
    assert_eq!(v.replacements[0].country.as_str(), "FR");
    assert_eq!(v.effective_to, Some(at(2026, 1, 1)));
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = NewClaim::builder()
        .translation("xx", "Bad language")
        .translation("en", " ")
        .country("GB")
        .country("ZZ")
        .country("gb")
        .ingredient("")
        .effective_from(at(2026, 1, 1))
        .effective_to(at(2025, 1, 1))
        .regulatory_reference("\0")
        .documentation_url("javascript:alert(1)")
        .notes("a\0b")
        .replacement("QQ", "", " ")
        .build()
        .unwrap_err();
    assert_eq!(
        fields(&err),
        [
            "type",
            "level",
            "status",
            "text.original",
            "text.xx",
            "text.en",
            "countries[1]",
            "countries[2]",
            "ingredients[0]",
            "regulatory_references[0]",
            "documentation_urls[0]",
            "notes",
            "replacements[0].country",
            "replacements[0].replacement",
            "replacements[0].reason",
            "effective_to",
        ],
        "{err}"
    );
    assert_eq!(err.get("countries[2]").unwrap().reason, "is listed twice");
    assert_eq!(
        err.get("effective_to").unwrap().reason,
        "must be after effective_from"
    );
}

#[test]
fn rules_between_fields_are_checked_when_the_fields_are_valid() {
    let same = at(2025, 6, 1);
    let err = minimal()
        .effective_from(same)
        .effective_to(same)
        .country("GB")
        .replacement("FR", "Autre", "Not sold there")
        .replacement("gb", "Other", "Why")
        .build()
        .unwrap_err();
    assert_eq!(
        fields(&err),
        ["effective_to", "replacements[0].country"],
        "{err}"
    );
    // A repeated replacement country is the replacements' own problem; the country rule is not
    // checked on top of it.
    let err = minimal()
        .country("GB")
        .replacement("FR", "Autre", "Why")
        .replacement("FR", "Again", "Why")
        .build()
        .unwrap_err();
    assert_eq!(fields(&err), ["replacements[1].country"], "{err}");
}

#[test]
fn an_unbounded_claim_may_replace_its_wording_in_any_country_and_starts_now() {
    let before = Utc::now();
    let new = minimal().replacement("FR", "Autre", "Why").build().unwrap();
    assert!(new.0.countries.is_empty());
    assert!(new.0.effective_from >= before - chrono::Duration::microseconds(1));
    assert_eq!(new.0.effective_from.timestamp_subsec_nanos() % 1000, 0);
}

#[test]
fn times_are_truncated_to_microseconds_and_bounded_to_years_1_to_9999() {
    let t = at(2025, 1, 1) + chrono::Duration::nanoseconds(1_999);
    let new = minimal().effective_from(t).build().unwrap();
    assert_eq!(
        new.0.effective_from,
        at(2025, 1, 1) + chrono::Duration::microseconds(1)
    );
    // Both ends within one microsecond: equal once stored, so refused.
    let err = minimal()
        .effective_from(at(2025, 1, 1) + chrono::Duration::nanoseconds(100))
        .effective_to(at(2025, 1, 1) + chrono::Duration::nanoseconds(900))
        .build()
        .unwrap_err();
    assert_eq!(fields(&err), ["effective_to"]);
    let err = minimal()
        .effective_from(at(10_000, 1, 1))
        .build()
        .unwrap_err();
    assert_eq!(
        err.get("effective_from").unwrap().reason,
        "must be between the years 1 and 9999"
    );
}

#[test]
fn translations_need_an_original_and_distinct_languages() {
    let err = NewClaim::builder()
        .claim_type(ClaimType::Master)
        .level(ClaimLevel::Brand)
        .status(ClaimStatus::Mandatory)
        .translation("fr", "Bon")
        .translation("FR", "Bien")
        .build()
        .unwrap_err();
    assert_eq!(fields(&err), ["text.original", "text.FR"], "{err}");
    let err = minimal()
        .product(Uuid::nil())
        .product(Uuid::nil())
        .build()
        .unwrap_err();
    assert_eq!(fields(&err), ["products[1]"]);
}

#[test]
fn a_patch_validates_what_it_sets_and_a_text_without_original_is_refused() {
    let err = ClaimPatch::builder()
        .translation("fr", "Bon")
        .countries(["GB", "nowhere"])
        .documentation_urls(["/relative"])
        .effective_from(at(2026, 1, 1))
        .effective_to(Some(at(2025, 1, 1)))
        .replacements([("FR", "", "x")])
        .build()
        .unwrap_err();
    assert_eq!(
        fields(&err),
        [
            "text.original",
            "countries[1]",
            "documentation_urls[0]",
            "replacements[0].replacement",
            "effective_to"
        ],
        "{err}"
    );
    assert!(ClaimPatch::builder().build().is_ok());
    assert!(
        ClaimPatch::builder()
            .countries(Vec::<String>::new())
            .notes(None)
            .effective_to(None)
            .build()
            .is_ok()
    );
}

#[test]
fn claim_text_serialises_flat_and_refuses_bad_stored_objects() {
    let new = minimal().translation("fr", "Riche").build().unwrap();
    let json = serde_json::to_value(&new.0.text).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"original": "Rich in fibre", "fr": "Riche"})
    );
    let back: ClaimText = serde_json::from_value(json).unwrap();
    assert_eq!(back, new.0.text);
    for bad in [
        serde_json::json!({"fr": "Riche"}),
        serde_json::json!({"original": "x", "french": "y"}),
        serde_json::json!({"original": " "}),
        serde_json::json!({"original": "x", "fr": 1}),
    ] {
        assert!(
            serde_json::from_value::<ClaimText>(bad.clone()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn enums_use_the_check_constraints_codes() {
    assert_eq!(ClaimType::ALL.len(), 3);
    assert_eq!(ClaimStatus::Disallowed.as_str(), "disallowed");
    assert_eq!(
        "ingredient".parse::<ClaimLevel>().unwrap(),
        ClaimLevel::Ingredient
    );
    assert!("global".parse::<ClaimLevel>().is_err());
}

proptest! {
    #[test]
    fn any_input_builds_or_is_refused_without_panicking(
        original in proptest::option::of(".{0,20}"),
        translations in proptest::collection::vec(("[a-zA-Z]{0,3}", ".{0,8}"), 0..4),
        countries in proptest::collection::vec("[a-zA-Z]{0,3}", 0..4),
        ingredients in proptest::collection::vec(".{0,8}", 0..3),
        urls in proptest::collection::vec(prop_oneof!["https?://[a-z]{0,5}(/.{0,5})?", ".{0,10}"], 0..3),
        from in proptest::option::of(-70_000_000_000_000i64..300_000_000_000_000),
        to in proptest::option::of(-70_000_000_000_000i64..300_000_000_000_000),
        replacements in proptest::collection::vec(("[a-zA-Z]{0,3}", ".{0,5}", ".{0,5}"), 0..3),
    ) {
        let mut b = NewClaim::builder()
            .claim_type(ClaimType::Ingredient)
            .level(ClaimLevel::Ingredient)
            .status(ClaimStatus::Disallowed);
        if let Some(o) = original { b = b.text(o); }
        for (l, t) in translations { b = b.translation(l, t); }
        for c in countries { b = b.country(c); }
        for i in ingredients { b = b.ingredient(i); }
        for u in urls { b = b.documentation_url(u); }
        if let Some(f) = from { b = b.effective_from(DateTime::from_timestamp_micros(f * 1000).unwrap()); }
        if let Some(t) = to { b = b.effective_to(DateTime::from_timestamp_micros(t * 1000).unwrap()); }
        for (c, r, w) in replacements { b = b.replacement(c, r, w); }
        match b.build() {
            Ok(new) => {
                let v = new.0;
                prop_assert!(v.effective_to.is_none_or(|to| to > v.effective_from));
                prop_assert!(!v.text.original().trim().is_empty());
            }
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }
}
