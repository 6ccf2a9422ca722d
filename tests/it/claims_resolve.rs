//! Claim resolution (`ClaimRepo::resolve`, `mixerai.claims_resolve()`), run as `mixerai_app` through
//! scopes: every precedence rule as a table, effective windows at their boundaries, replacements, the
//! translation fallback chain, and the parent and master claim brands.

use chrono::{DateTime, Duration, TimeZone, Utc};
use mixerai_data::claims::{
    ClaimSource, ClaimStatus, ResolutionRequest, ResolutionRule, ResolvedClaim, WordingSource,
};
use mixerai_data::test_support::TestDatabase;
use mixerai_data::types::{BrandId, ClaimId, CountryCode, LanguageCode, UserId};
use mixerai_data::{Error, Scope};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{fresh_db, insert_brand, insert_role, insert_user, pool};

/// The scope's brand (`own`, GB, English), its parent, its master claim brand (a regulator's
/// register), and an unrelated brand; an admin and a viewer of `own`, and a user with no role.
pub struct Brands {
    pub db: TestDatabase,
    pub own: Uuid,
    pub parent: Uuid,
    pub master: Uuid,
    pub other: Uuid,
    pub admin: Uuid,
    pub viewer: Uuid,
    pub stranger: Uuid,
}

impl Brands {
    pub async fn new() -> Self {
        let db = fresh_db().await;
        let p = pool(&db);
        let admin = insert_user(p, "admin@example.com").await;
        let viewer = insert_user(p, "viewer@example.com").await;
        let stranger = insert_user(p, "stranger@example.com").await;
        let own = insert_brand(p, "own", admin).await;
        let parent = insert_brand(p, "parent", admin).await;
        let master = insert_brand(p, "eu-register", admin).await;
        let other = insert_brand(p, "other", admin).await;
        sqlx::query(
            "UPDATE mixerai.brands SET parent_brand_id = $2, master_claim_brand_ids = ARRAY[$3]
             WHERE id = $1",
        )
        .bind(own)
        .bind(parent)
        .bind(master)
        .execute(p)
        .await
        .unwrap();
        insert_role(p, admin, own, "admin").await;
        insert_role(p, viewer, own, "viewer").await;
        insert_role(p, stranger, other, "admin").await;
        Self {
            db,
            own,
            parent,
            master,
            other,
            admin,
            viewer,
            stranger,
        }
    }

    pub async fn scope(&self, user: Uuid) -> Scope {
        self.db
            .database()
            .scope(UserId::from_uuid(user), BrandId::from_uuid(self.own))
            .await
            .unwrap()
    }

    /// Writes a claim as the owner (the fixture is not what these tests test; the repository's own
    /// writes are tested in claims.rs). `spec` holds the columns to set beyond the defaults.
    pub async fn claim(&self, brand: Uuid, spec: Value) -> Uuid {
        let mut row = json!({
            "brand_id": brand,
            "type": "product",
            "level": "brand",
            "status": "allowed",
            "countries": [],
            "effective_from": "2025-01-01T00:00:00Z",
            "created_by": self.admin,
            "updated_by": self.admin,
        });
        for (k, v) in spec.as_object().unwrap() {
            row[k] = v.clone();
        }
        if let Some(text) = row["text"].as_str() {
            row["text"] = json!({ "original": text });
        }
        sqlx::query_scalar(
            "INSERT INTO mixerai.claims (brand_id, type, level, text, status, countries, products,
                 ingredients, effective_from, effective_to, replacements, created_by, updated_by)
             SELECT brand_id, type, level, text, status, countries, products, ingredients,
                    effective_from, effective_to, replacements, created_by, updated_by
             FROM jsonb_populate_record(NULL::mixerai.claims, $1) RETURNING id",
        )
        .bind(row)
        .fetch_one(pool(&self.db))
        .await
        .unwrap()
    }

    pub async fn resolve(&self, user: Uuid, request: &ResolutionRequest) -> Vec<ResolvedClaim> {
        let mut scope = self.scope(user).await;
        scope.claims().resolve(request).await.unwrap()
    }
}

pub fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

pub fn country(c: &str) -> CountryCode {
    CountryCode::parse(c).unwrap()
}

fn language(l: &str) -> LanguageCode {
    LanguageCode::parse(l).unwrap()
}

/// The resolved claim whose original wording is `original`, if any.
fn by_text<'a>(resolved: &'a [ResolvedClaim], original: &str) -> Option<&'a ResolvedClaim> {
    resolved.iter().find(|r| r.text.original() == original)
}

/// Which brand of the world a label names.
#[derive(Debug, Clone, Copy)]
enum From {
    Own,
    Parent,
    Master,
}

/// One claim of a precedence case: where it comes from, and its level, status and any extra columns.
struct Given(From, &'static str, &'static str, Value);

/// One precedence case: claims of one statement (the same wording, up to case and punctuation), and
/// which of them must decide it (by index), with which status and rule.
struct Case {
    rule_under_test: &'static str,
    claims: Vec<(&'static str, Given)>,
    winner: usize,
    status: ClaimStatus,
    rule: ResolutionRule,
}

#[tokio::test]
async fn every_precedence_rule_decides_as_documented() {
    let w = Brands::new().await;
    let product = Uuid::new_v4();
    let for_product = json!({ "products": [product] });
    let fish = json!({ "ingredients": ["fish oil"] });
    let none = json!({});
    let cases = vec![
        Case {
            rule_under_test: "a master disallow beats a brand allow",
            claims: vec![
                (
                    "Cures colds",
                    Given(From::Own, "brand", "allowed", none.clone()),
                ),
                (
                    "Cures colds",
                    Given(From::Master, "brand", "disallowed", none.clone()),
                ),
            ],
            winner: 1,
            status: ClaimStatus::Disallowed,
            rule: ResolutionRule::MasterDisallow,
        },
        Case {
            rule_under_test: "a master disallow beats even a more specific allow",
            claims: vec![
                (
                    "Boosts immunity",
                    Given(From::Own, "ingredient", "allowed", fish.clone()),
                ),
                (
                    "Boosts immunity",
                    Given(From::Parent, "product", "mandatory", for_product.clone()),
                ),
                (
                    "Boosts immunity",
                    Given(From::Master, "brand", "disallowed", none.clone()),
                ),
            ],
            winner: 2,
            status: ClaimStatus::Disallowed,
            rule: ResolutionRule::MasterDisallow,
        },
        Case {
            rule_under_test: "a disallowed claim of type master is regulator level too",
            claims: vec![
                (
                    "Clinically proven",
                    Given(From::Own, "product", "allowed", for_product.clone()),
                ),
                (
                    "Clinically proven",
                    Given(
                        From::Own,
                        "brand",
                        "disallowed",
                        json!({ "type": "master" }),
                    ),
                ),
            ],
            winner: 1,
            status: ClaimStatus::Disallowed,
            rule: ResolutionRule::MasterDisallow,
        },
        Case {
            rule_under_test: "product beats brand (a product disallow)",
            claims: vec![
                (
                    "Rich in fibre",
                    Given(From::Own, "brand", "allowed", none.clone()),
                ),
                (
                    "Rich in fibre",
                    Given(From::Own, "product", "disallowed", for_product.clone()),
                ),
            ],
            winner: 1,
            status: ClaimStatus::Disallowed,
            rule: ResolutionRule::MoreSpecificScope,
        },
        Case {
            rule_under_test: "product beats brand (a product allow over a brand disallow)",
            claims: vec![
                (
                    "High protein",
                    Given(From::Own, "brand", "disallowed", none.clone()),
                ),
                (
                    "High protein",
                    Given(From::Own, "product", "allowed", for_product.clone()),
                ),
            ],
            winner: 1,
            status: ClaimStatus::Allowed,
            rule: ResolutionRule::MoreSpecificScope,
        },
        Case {
            rule_under_test: "ingredient beats product",
            claims: vec![
                (
                    "Source of omega-3",
                    Given(From::Own, "product", "allowed", for_product.clone()),
                ),
                (
                    "Source of omega-3",
                    Given(From::Parent, "ingredient", "disallowed", fish.clone()),
                ),
            ],
            winner: 1,
            status: ClaimStatus::Disallowed,
            rule: ResolutionRule::MoreSpecificScope,
        },
        Case {
            rule_under_test: "a parent's more specific claim beats the brand's own broader one",
            claims: vec![
                (
                    "Wholegrain",
                    Given(From::Own, "brand", "disallowed", none.clone()),
                ),
                (
                    "Wholegrain",
                    Given(From::Parent, "product", "allowed", for_product.clone()),
                ),
            ],
            winner: 1,
            status: ClaimStatus::Allowed,
            rule: ResolutionRule::MoreSpecificScope,
        },
        Case {
            rule_under_test: "at equal scope disallowed beats allowed",
            claims: vec![
                (
                    "Low fat",
                    Given(From::Own, "brand", "allowed", none.clone()),
                ),
                (
                    "Low fat",
                    Given(From::Own, "brand", "disallowed", none.clone()),
                ),
            ],
            winner: 1,
            status: ClaimStatus::Disallowed,
            rule: ResolutionRule::DisallowedOverAllowed,
        },
        Case {
            rule_under_test: "at equal scope disallowed beats mandatory",
            claims: vec![
                (
                    "No added sugar",
                    Given(From::Own, "brand", "mandatory", none.clone()),
                ),
                (
                    "No added sugar",
                    Given(From::Parent, "brand", "disallowed", none.clone()),
                ),
            ],
            winner: 1,
            status: ClaimStatus::Disallowed,
            rule: ResolutionRule::DisallowedOverAllowed,
        },
        Case {
            rule_under_test: "at equal scope a brand disallow beats a master allow",
            claims: vec![
                (
                    "All natural",
                    Given(From::Master, "brand", "allowed", none.clone()),
                ),
                (
                    "All natural",
                    Given(From::Own, "brand", "disallowed", none.clone()),
                ),
            ],
            winner: 1,
            status: ClaimStatus::Disallowed,
            rule: ResolutionRule::DisallowedOverAllowed,
        },
        Case {
            rule_under_test: "mandatory is allowed plus an obligation: it beats allowed",
            claims: vec![
                (
                    "Contains vitamin C",
                    Given(From::Parent, "brand", "allowed", none.clone()),
                ),
                (
                    "Contains vitamin C",
                    Given(From::Own, "brand", "mandatory", none.clone()),
                ),
            ],
            winner: 1,
            status: ClaimStatus::Mandatory,
            rule: ResolutionRule::MandatoryOverAllowed,
        },
        Case {
            rule_under_test: "agreeing claims: the nearest source decides the wording",
            claims: vec![
                (
                    "Vegan",
                    Given(From::Master, "brand", "allowed", none.clone()),
                ),
                (
                    "Vegan",
                    Given(From::Parent, "brand", "allowed", none.clone()),
                ),
                ("Vegan", Given(From::Own, "brand", "allowed", none.clone())),
            ],
            winner: 2,
            status: ClaimStatus::Allowed,
            rule: ResolutionRule::Uncontested,
        },
        Case {
            rule_under_test: "a lone claim of the parent",
            claims: vec![(
                "Gluten free",
                Given(From::Parent, "brand", "disallowed", none.clone()),
            )],
            winner: 0,
            status: ClaimStatus::Disallowed,
            rule: ResolutionRule::Uncontested,
        },
        Case {
            rule_under_test: "wordings equal up to case, spacing and punctuation are one statement",
            claims: vec![
                (
                    "Rich in protein!",
                    Given(From::Own, "brand", "allowed", none.clone()),
                ),
                (
                    "RICH  IN   PROTEIN",
                    Given(From::Parent, "brand", "disallowed", none.clone()),
                ),
            ],
            winner: 1,
            status: ClaimStatus::Disallowed,
            rule: ResolutionRule::DisallowedOverAllowed,
        },
    ];
    let mut ids: Vec<Vec<Uuid>> = Vec::new();
    for case in &cases {
        let mut case_ids = Vec::new();
        for (text, Given(from, level, status, extra)) in &case.claims {
            let brand = match from {
                From::Own => w.own,
                From::Parent => w.parent,
                From::Master => w.master,
            };
            let mut spec = json!({ "text": text, "level": level, "status": status });
            for (k, v) in extra.as_object().unwrap() {
                spec[k] = v.clone();
            }
            case_ids.push(w.claim(brand, spec).await);
        }
        ids.push(case_ids);
    }
    let request = ResolutionRequest::new(country("GB"), at(2026, 3, 1))
        .product(product)
        .ingredient("  Fish OIL ");
    let resolved = w.resolve(w.admin, &request).await;
    let mut failures = Vec::new();
    for (case, case_ids) in cases.iter().zip(&ids) {
        let winner = ClaimId::from_uuid(case_ids[case.winner]);
        let Some(r) = resolved.iter().find(|r| r.id == winner) else {
            failures.push(format!("{}: winner not resolved", case.rule_under_test));
            continue;
        };
        let mut overridden: Vec<ClaimId> = case_ids
            .iter()
            .map(|id| ClaimId::from_uuid(*id))
            .filter(|id| *id != winner)
            .collect();
        overridden.sort();
        let mut got_overridden = r.overridden.clone();
        got_overridden.sort();
        if (r.status, r.rule, got_overridden) != (case.status, case.rule, overridden) {
            failures.push(format!(
                "{}: got {:?} by {:?} overriding {:?}",
                case.rule_under_test, r.status, r.rule, r.overridden
            ));
        }
        // One statement, one resolved claim.
        let statements = resolved
            .iter()
            .filter(|x| case_ids.contains(&x.id.as_uuid()))
            .count();
        if statements != 1 {
            failures.push(format!("{}: {statements} resolved", case.rule_under_test));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(resolved.len(), cases.len());
    // Strongest status first.
    let ranks: Vec<u8> = resolved
        .iter()
        .map(|r| match r.status {
            ClaimStatus::Disallowed => 0,
            ClaimStatus::Mandatory => 1,
            ClaimStatus::Allowed => 2,
        })
        .collect();
    assert!(ranks.windows(2).all(|p| p[0] <= p[1]), "{ranks:?}");
    let vegan = by_text(&resolved, "Vegan").unwrap();
    assert_eq!(vegan.source, ClaimSource::Own);
    assert_eq!(
        by_text(&resolved, "Gluten free").unwrap().source,
        ClaimSource::Parent
    );
    assert_eq!(
        by_text(&resolved, "Cures colds")
            .unwrap()
            .brand_id
            .as_uuid(),
        w.master
    );

    // Without the product and the ingredient, the claims scoped to them do not apply and the
    // broader ones decide alone.
    let plain = w
        .resolve(
            w.admin,
            &ResolutionRequest::new(country("GB"), at(2026, 3, 1)),
        )
        .await;
    let rich = by_text(&plain, "Rich in fibre").unwrap();
    assert_eq!(
        (rich.status, rich.rule, rich.overridden.len()),
        (ClaimStatus::Allowed, ResolutionRule::Uncontested, 0)
    );
    assert!(by_text(&plain, "Source of omega-3").is_none());
    let immunity = by_text(&plain, "Boosts immunity").unwrap();
    assert_eq!(immunity.rule, ResolutionRule::MasterDisallow);
}

#[tokio::test]
async fn what_does_not_apply_is_left_out() {
    let w = Brands::new().await;
    let product = Uuid::new_v4();
    let cases = [
        (
            "for another market",
            w.own,
            json!({ "countries": ["FR"] }),
            false,
        ),
        (
            "for this market",
            w.own,
            json!({ "countries": ["FR", "GB"] }),
            true,
        ),
        ("for every market", w.own, json!({}), true),
        (
            "of another product",
            w.own,
            json!({ "level": "product", "products": [Uuid::new_v4()] }),
            false,
        ),
        (
            "of this product",
            w.own,
            json!({ "level": "product", "products": [product] }),
            true,
        ),
        ("of any product", w.own, json!({ "level": "product" }), true),
        (
            "of another ingredient",
            w.own,
            json!({ "level": "ingredient", "ingredients": ["palm oil"] }),
            false,
        ),
        (
            "of this ingredient",
            w.own,
            json!({ "level": "ingredient", "ingredients": ["Oats", "barley"] }),
            true,
        ),
        (
            "brand level but limited to another product",
            w.own,
            json!({ "products": [Uuid::new_v4()] }),
            false,
        ),
        (
            "not yet in effect",
            w.own,
            json!({ "effective_from": "2027-01-01T00:00:00Z" }),
            false,
        ),
        (
            "lapsed",
            w.own,
            json!({ "effective_to": "2026-01-01T00:00:00Z" }),
            false,
        ),
        ("of an unrelated brand", w.other, json!({}), false),
    ];
    let mut ids = Vec::new();
    for (text, brand, spec, _) in &cases {
        let mut spec = spec.clone();
        spec["text"] = json!(text);
        ids.push(w.claim(*brand, spec).await);
    }
    let deleted = w.claim(w.own, json!({ "text": "soft-deleted" })).await;
    sqlx::query("UPDATE mixerai.claims SET deleted_at = now() WHERE id = $1")
        .bind(deleted)
        .execute(pool(&w.db))
        .await
        .unwrap();
    let resolved = w
        .resolve(
            w.admin,
            &ResolutionRequest::new(country("GB"), at(2026, 6, 1))
                .product(product)
                .ingredient("oats"),
        )
        .await;
    for ((text, _, _, applies), id) in cases.iter().zip(&ids) {
        let found = resolved.iter().any(|r| r.id.as_uuid() == *id);
        assert_eq!(found, *applies, "a claim {text}");
    }
    assert!(!resolved.iter().any(|r| r.id.as_uuid() == deleted));
}

#[tokio::test]
async fn effective_windows_are_half_open_at_both_boundaries() {
    let w = Brands::new().await;
    let (t0, t1) = (at(2026, 1, 1), at(2026, 7, 1));
    let first = w
        .claim(
            w.own,
            json!({ "text": "Limited edition", "effective_from": t0, "effective_to": t1 }),
        )
        .await;
    // Its successor takes effect at the very instant it lapses, with another status.
    let second = w
        .claim(
            w.own,
            json!({ "text": "Limited edition", "status": "disallowed", "effective_from": t1 }),
        )
        .await;
    let micro = Duration::microseconds(1);
    let cases = [
        ("just before it takes effect", t0 - micro, None),
        ("the instant it takes effect", t0, Some(first)),
        ("just before it lapses", t1 - micro, Some(first)),
        ("the instant it lapses: its successor", t1, Some(second)),
        ("long after", at(2030, 1, 1), Some(second)),
    ];
    for (what, time, expected) in cases {
        let resolved = w
            .resolve(w.viewer, &ResolutionRequest::new(country("GB"), time))
            .await;
        let got = by_text(&resolved, "Limited edition").map(|r| r.id.as_uuid());
        assert_eq!(got, expected, "{what} ({time})");
        if let Some(r) = by_text(&resolved, "Limited edition") {
            // Never both in effect at once, so nothing to decide.
            assert_eq!(r.rule, ResolutionRule::Uncontested, "{what}");
        }
    }
}

#[tokio::test]
async fn a_markets_replacement_substitutes_the_wording_there_only() {
    let w = Brands::new().await;
    w.claim(
        w.own,
        json!({
            "text": { "original": "High in fibre", "fr": "Riche en fibres" },
            "countries": ["GB", "FR", "BE"],
            "replacements": [
                { "country": "FR", "replacement": "Source de fibres", "reason": "Below 6 g per 100 g in the French recipe" },
            ],
        }),
    )
    .await;
    let cases = [
        ("GB", None, "High in fibre", WordingSource::Original),
        (
            "FR",
            Some("fr"),
            "Source de fibres",
            WordingSource::Replacement,
        ),
        ("FR", None, "Source de fibres", WordingSource::Replacement),
        (
            "BE",
            Some("fr"),
            "Riche en fibres",
            WordingSource::RequestedLanguage,
        ),
    ];
    for (market, lang, wording, source) in cases {
        let mut request = ResolutionRequest::new(country(market), at(2026, 1, 1));
        if let Some(l) = lang {
            request = request.language(language(l));
        }
        let resolved = w.resolve(w.viewer, &request).await;
        let r = by_text(&resolved, "High in fibre").unwrap();
        assert_eq!(
            (r.wording.as_str(), r.wording_source),
            (wording, source),
            "{market} {lang:?}"
        );
        assert_eq!(
            r.replacement_in(country(market)).is_some(),
            source == WordingSource::Replacement
        );
    }
}

#[tokio::test]
async fn translations_fall_back_to_the_brands_language_then_the_original() {
    let w = Brands::new().await;
    sqlx::query("UPDATE mixerai.brands SET language = 'de' WHERE id = $1")
        .bind(w.own)
        .execute(pool(&w.db))
        .await
        .unwrap();
    w.claim(
        w.own,
        json!({ "text": { "original": "Rich in fibre", "fr": "Riche en fibres", "de": "Reich an Ballaststoffen" } }),
    )
    .await;
    w.claim(
        w.master,
        json!({ "text": { "original": "Low in salt", "fr": "Pauvre en sel" } }),
    )
    .await;
    let cases = [
        (
            "Rich in fibre",
            Some("fr"),
            "Riche en fibres",
            WordingSource::RequestedLanguage,
            Some("fr"),
        ),
        (
            "Rich in fibre",
            Some("es"),
            "Reich an Ballaststoffen",
            WordingSource::BrandLanguage,
            Some("de"),
        ),
        (
            "Rich in fibre",
            None,
            "Reich an Ballaststoffen",
            WordingSource::BrandLanguage,
            Some("de"),
        ),
        (
            "Low in salt",
            Some("fr"),
            "Pauvre en sel",
            WordingSource::RequestedLanguage,
            Some("fr"),
        ),
        (
            "Low in salt",
            Some("es"),
            "Low in salt",
            WordingSource::Original,
            None,
        ),
        (
            "Low in salt",
            None,
            "Low in salt",
            WordingSource::Original,
            None,
        ),
    ];
    for (original, lang, wording, source, wording_language) in cases {
        let mut request = ResolutionRequest::new(country("DE"), at(2026, 1, 1));
        if let Some(l) = lang {
            request = request.language(language(l));
        }
        let resolved = w.resolve(w.viewer, &request).await;
        let r = by_text(&resolved, original).unwrap();
        assert_eq!(
            (r.wording.as_str(), r.wording_source, r.wording_language),
            (wording, source, wording_language.map(language)),
            "{original} in {lang:?}"
        );
    }
}

#[tokio::test]
async fn parent_and_master_claims_apply_while_those_brands_are_live_and_linked() {
    let w = Brands::new().await;
    let from_parent = w
        .claim(w.parent, json!({ "text": "From the parent" }))
        .await;
    let from_master = w
        .claim(
            w.master,
            json!({ "text": "From the register", "status": "disallowed" }),
        )
        .await;
    w.claim(w.other, json!({ "text": "From a stranger" })).await;
    let request = ResolutionRequest::new(country("GB"), at(2026, 1, 1));
    let sources = |resolved: &[ResolvedClaim]| {
        let mut s: Vec<(String, ClaimSource)> = resolved
            .iter()
            .map(|r| (r.text.original().to_owned(), r.source))
            .collect();
        s.sort_by(|a, b| a.0.cmp(&b.0));
        s
    };
    let resolved = w.resolve(w.viewer, &request).await;
    assert_eq!(
        sources(&resolved),
        [
            ("From the parent".to_owned(), ClaimSource::Parent),
            ("From the register".to_owned(), ClaimSource::Master),
        ]
    );
    // Claims only: the other brands' rows stay out of the scope's reach otherwise.
    let mut scope = w.scope(w.viewer).await;
    for id in [from_parent, from_master] {
        assert!(matches!(
            scope.claims().get(ClaimId::from_uuid(id)).await,
            Err(Error::NotFound { entity: "claim" })
        ));
    }
    let visible: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mixerai.claims WHERE brand_id <> $1")
            .bind(w.own)
            .fetch_one(scope.connection())
            .await
            .unwrap();
    assert_eq!(visible, 0);
    drop(scope);

    // A soft-deleted master brand gives no claims; a brand named both parent and master counts as
    // master.
    sqlx::query("UPDATE mixerai.brands SET deleted_at = now() WHERE id = $1")
        .bind(w.master)
        .execute(pool(&w.db))
        .await
        .unwrap();
    sqlx::query("UPDATE mixerai.brands SET master_claim_brand_ids = ARRAY[$2, $3] WHERE id = $1")
        .bind(w.own)
        .bind(w.master)
        .bind(w.parent)
        .execute(pool(&w.db))
        .await
        .unwrap();
    let resolved = w.resolve(w.viewer, &request).await;
    assert_eq!(
        sources(&resolved),
        [("From the parent".to_owned(), ClaimSource::Master)]
    );
    // Unlinked, they give nothing.
    sqlx::query(
        "UPDATE mixerai.brands SET parent_brand_id = NULL, master_claim_brand_ids = '{}' WHERE id = $1",
    )
    .bind(w.own)
    .execute(pool(&w.db))
    .await
    .unwrap();
    assert!(w.resolve(w.viewer, &request).await.is_empty());
}

#[tokio::test]
async fn only_a_reader_of_the_brand_resolves_anything() {
    let w = Brands::new().await;
    w.claim(w.own, json!({ "text": "Ours" })).await;
    w.claim(w.master, json!({ "text": "The register's" })).await;
    let request = ResolutionRequest::new(country("GB"), at(2026, 1, 1));
    assert_eq!(w.resolve(w.viewer, &request).await.len(), 2);
    // A user with no role in the brand (an admin elsewhere) gets nothing, not even the master's.
    assert!(w.resolve(w.stranger, &request).await.is_empty());
    // Nor does a session of the application role without a tenant context.
    let mut tx = pool(&w.db).begin().await.unwrap();
    sqlx::query("SET LOCAL ROLE mixerai_app")
        .execute(&mut *tx)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mixerai.claims_resolve('GB', NULL, NULL, NULL, now())",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn the_statement_key_folds_case_accents_punctuation_and_spacing() {
    let w = Brands::new().await;
    let cases = [
        ("Riche en fibres", "riche en fibres"),
        ("  RICHE   en FIBRES ! ", "riche en fibres"),
        ("Crème brûlée — légère", "creme brulee legere"),
        ("ﬁbre-rich, low‑fat", "fibre rich low fat"),
        ("l’avoine d'été", "l avoine d ete"),
    ];
    for (original, key) in cases {
        let id = w.claim(w.own, json!({ "text": original })).await;
        let stored: String =
            sqlx::query_scalar("SELECT statement_key FROM mixerai.claims WHERE id = $1")
                .bind(id)
                .fetch_one(pool(&w.db))
                .await
                .unwrap();
        assert_eq!(stored, key, "{original}");
    }
}
