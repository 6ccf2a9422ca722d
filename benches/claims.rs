//! What claims cost: resolution at 100k claims inside a tenant scope (BEGIN + context,
//! `mixerai.claims_resolve()`, decoding, COMMIT) beside the same resolution written by hand as one
//! statement on the owner's pool (tests/fixtures/claims_resolve_by_hand.sql, decoded the same way);
//! and a compliance check of a 2,000-word item against 1,000 claims in effect.
//!
//! `cargo bench --bench claims -- --warm-up-time 1 --measurement-time 5`
//!
//! Groups:
//! - `resolution_100k_claims`: `crate_resolve` / `baseline_single_query`, the claims in effect in GB
//!   for `claims-own` (its own, its parent's and its register's: 862 of the 100,000, from the 1,018
//!   claims of those brands for GB or every market), in French, for one product and one ingredient.
//! - `compliance_check_2000_words_1000_claims`: `check_text`, the matching alone ([`ClaimChecker`]
//!   over 1,000 resolved claims and three guardrails, against a 2,000-word HTML page with 40 claims in
//!   it); `crate_check`, the whole recorded check at the 100k fixture (read the item and the rule
//!   counters, resolve the 862 claims, match, insert the result, commit).

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use mixerai_data::Database;
use mixerai_data::claims::{CheckedText, ClaimChecker, ResolutionRequest, ResolvedClaim};
use mixerai_data::content::NewContent;
use mixerai_data::test_support::{TestDatabase, TestServer};
use mixerai_data::types::{BrandId, ContentId, CountryCode, LanguageCode, UserId};
use serde_json::json;
use sqlx::{ConnectOptions, Connection, Row};
use uuid::Uuid;

const SEED_CLAIMS_100K: &str = include_str!("../tests/fixtures/claims_100k.sql");
const RESOLVE_BY_HAND: &str = include_str!("../tests/fixtures/claims_resolve_by_hand.sql");
const PRODUCT: Uuid = Uuid::from_u128(0xf00d);
/// How many claims the fixture resolves for the request below.
const RESOLVED: usize = 862;

struct Fixture {
    _db: TestDatabase,
    database: Database,
    user: UserId,
    brand: BrandId,
    brand_uuid: Uuid,
    item: ContentId,
}

fn request() -> ResolutionRequest {
    ResolutionRequest::new(
        CountryCode::parse("GB").unwrap(),
        Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap(),
    )
    .language(LanguageCode::parse("fr").unwrap())
    .product(PRODUCT)
    .ingredient("oats")
}

async fn fixture() -> Fixture {
    let server = TestServer::global().await.expect("test server");
    let db = server.database().await.expect("test database");
    let pool = db.database().pool();
    // As the superuser: the fixture switches triggers off, which the owner may not.
    let mut admin = db
        .admin_connect_options()
        .connect()
        .await
        .expect("admin connection");
    sqlx::raw_sql(SEED_CLAIMS_100K)
        .execute(&mut admin)
        .await
        .expect("seed 100k claims");
    admin.close().await.expect("close");
    let row = sqlx::query(
        "SELECT (SELECT id FROM mixerai.users WHERE email = 'seed-claims@example.com'),
                (SELECT id FROM mixerai.brands WHERE slug = 'claims-own')",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let (user_uuid, brand_uuid): (Uuid, Uuid) = (row.get(0), row.get(1));
    let (user, brand) = (UserId::from_uuid(user_uuid), BrandId::from_uuid(brand_uuid));
    // The 2,000-word page, made of the fixture's own wordings and filler.
    let mut scope = db.database().scope(user, brand).await.unwrap();
    let item = scope
        .content()
        .create(
            &NewContent::builder()
                .content_type("product")
                .title("Golden Oat Crunch")
                .body(page(|i| format!("Register claim {}", (i * 37) % 10000)))
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let resolved = scope.claims().resolve(&request()).await.unwrap();
    assert_eq!(resolved.len(), RESOLVED);
    scope.commit().await.unwrap();
    Fixture {
        database: db.database().clone(),
        _db: db,
        user,
        brand,
        brand_uuid,
        item: item.id,
    }
}

/// A 2,000-word HTML page of 40 paragraphs of 50 words, each with one claim (`claim(i)`) in it, one
/// in four split across a line break.
fn page(claim: impl Fn(usize) -> String) -> String {
    const FILLER: [&str; 12] = [
        "golden", "oats", "baked", "slowly", "with", "a", "touch", "of", "honey", "for", "busy",
        "mornings",
    ];
    let mut html = String::new();
    for p in 0..40 {
        let c = claim(p);
        let claim_words = c.split(' ').count();
        let mut words: Vec<String> = (0..50 - claim_words)
            .map(|w| FILLER[(p * 7 + w) % FILLER.len()].to_owned())
            .collect();
        let at = (p * 13) % words.len();
        let text = if p % 4 == 0 {
            c.replacen(' ', "\n", 1)
        } else {
            c
        };
        words.insert(at, text);
        html.push_str("<p>");
        html.push_str(&words.join(" "));
        html.push_str("</p>\n");
    }
    html
}

/// 1,000 resolved claims of two to six words from a nutrition vocabulary, each with a French
/// translation; a fifth disallowed, one in twenty mandatory, one in twenty-five with a GB
/// replacement.
fn thousand_claims() -> Vec<ResolvedClaim> {
    const NUTRIENTS: [&str; 20] = [
        "fibre",
        "protein",
        "vitamin c",
        "vitamin d",
        "iron",
        "calcium",
        "omega-3",
        "zinc",
        "magnesium",
        "folate",
        "potassium",
        "selenium",
        "iodine",
        "biotin",
        "vitamin b12",
        "riboflavin",
        "niacin",
        "thiamin",
        "copper",
        "manganese",
    ];
    const CLAIMS: [&str; 10] = [
        "high in {}",
        "source of {}",
        "rich in {}",
        "naturally high in {}",
        "contains {}",
        "{} contributes to normal energy",
        "with added {}",
        "increased {} content",
        "{} supports your immune system",
        "low in {} loss",
    ];
    (0..1000)
        .map(|i| {
            let wording = format!(
                "{} batch {}",
                CLAIMS[i % 10].replace("{}", NUTRIENTS[(i / 10) % 20]),
                i / 200
            );
            let status = if i % 5 == 0 {
                "disallowed"
            } else if i % 20 == 1 {
                "mandatory"
            } else {
                "allowed"
            };
            let replacements = if i % 25 == 2 {
                json!([{ "country": "GB", "replacement": format!("{wording} (UK)"), "reason": "Local rule" }])
            } else {
                json!([])
            };
            serde_json::from_value(json!({
                "id": Uuid::from_u128(i as u128 + 1),
                "brand_id": Uuid::from_u128(7),
                "source": if i % 3 == 0 { "master" } else { "own" },
                "type": "product",
                "level": "brand",
                "status": status,
                "text": { "original": wording, "fr": format!("Allégation {wording}") },
                "countries": [],
                "products": [],
                "ingredients": [],
                "effective_from": "2024-01-01T00:00:00Z",
                "effective_to": null,
                "regulatory_references": [],
                "documentation_urls": [],
                "notes": null,
                "replacements": replacements,
                "version": 1,
                "rule": "uncontested",
                "overridden": [],
                "overridden_texts": [],
                "wording": wording,
                "wording_source": "original",
                "wording_language": null,
            }))
            .unwrap()
        })
        .collect()
}

fn claims(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let fixture = rt.block_on(fixture());
    let pool = fixture.database.pool().clone();
    let (f, pool) = (&fixture, &pool);
    let ingredients = vec!["oats".to_owned()];
    let at = request().at;

    let mut group = c.benchmark_group("resolution_100k_claims");
    group.bench_function("crate_resolve", |b| {
        b.to_async(&rt).iter(|| async {
            let mut scope = f.database.scope(f.user, f.brand).await.unwrap();
            let resolved = scope.claims().resolve(&request()).await.unwrap();
            scope.commit().await.unwrap();
            assert_eq!(resolved.len(), RESOLVED);
            resolved
        })
    });
    group.bench_function("baseline_single_query", |b| {
        b.to_async(&rt).iter(|| async {
            let resolved: Vec<ResolvedClaim> = sqlx::query_as(sqlx::AssertSqlSafe(RESOLVE_BY_HAND))
                .bind(f.brand_uuid)
                .bind("GB")
                .bind("fr")
                .bind(PRODUCT)
                .bind(&ingredients)
                .bind(at)
                .fetch_all(pool)
                .await
                .unwrap();
            assert_eq!(resolved.len(), RESOLVED);
            resolved
        })
    });
    group.finish();

    let claims = thousand_claims();
    let gb = CountryCode::parse("GB").unwrap();
    let body = page(|i| claims[(i * 97) % claims.len()].text.original().to_owned());
    assert_eq!(
        body.split(|c: char| c.is_whitespace())
            .filter(|w| !w.is_empty())
            .count(),
        2000
    );
    let text = CheckedText::new()
        .field("title", "Golden Oat Crunch")
        .field("body", body);
    let guardrails = [
        "Never call a product a \"superfood\"",
        "Avoid \"miracle\" and \"detox\"",
        "Keep sentences short",
    ];
    let findings = ClaimChecker::new(&claims, gb)
        .guardrails(guardrails)
        .check(&text);
    assert!(findings.len() > 40, "{} findings", findings.len());

    let mut group = c.benchmark_group("compliance_check_2000_words_1000_claims");
    group.bench_function("check_text", |b| {
        b.iter(|| {
            ClaimChecker::new(&claims, gb)
                .guardrails(guardrails)
                .check(&text)
        })
    });
    group.bench_function("crate_check", |b| {
        b.to_async(&rt).iter(|| async {
            let mut scope = f.database.scope(f.user, f.brand).await.unwrap();
            let check = scope.claims().check(f.item, &request()).await.unwrap();
            scope.commit().await.unwrap();
            check
        })
    });
    group.finish();

    rt.block_on(pool.close());
    drop(fixture);
}

criterion_group!(benches, claims);
criterion_main!(benches);
