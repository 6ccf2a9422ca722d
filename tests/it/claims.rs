//! Integration tests of the `claims` module's repository, run as `mixerai_app` through scopes.

use chrono::{DateTime, Duration, TimeZone, Utc};
use mixerai_data::claims::{
    Claim, ClaimFilter, ClaimLevel, ClaimPatch, ClaimStatus, ClaimType, NewClaim, NewClaimBuilder,
};
use mixerai_data::test_support::TestDatabase;
use mixerai_data::types::{BrandId, ClaimId, CountryCode, LanguageCode, UserId};
use mixerai_data::{Deleted, Error, PageRequest, Scope};
use uuid::Uuid;

use crate::support::{fresh_db, insert_brand, insert_role, insert_user, pool};

/// Brand A with an admin, an editor and a viewer; brand B with an admin of its own.
struct World {
    db: TestDatabase,
    a: BrandId,
    b: BrandId,
    admin: UserId,
    editor: UserId,
    viewer: UserId,
    admin_b: UserId,
}

impl World {
    async fn new() -> Self {
        let db = fresh_db().await;
        let p = pool(&db);
        let admin = insert_user(p, "admin@example.com").await;
        let editor = insert_user(p, "editor@example.com").await;
        let viewer = insert_user(p, "viewer@example.com").await;
        let admin_b = insert_user(p, "admin-b@example.com").await;
        let a = insert_brand(p, "brand-a", admin).await;
        let b = insert_brand(p, "brand-b", admin_b).await;
        insert_role(pool(&db), admin, a, "admin").await;
        insert_role(pool(&db), editor, a, "editor").await;
        insert_role(pool(&db), viewer, a, "viewer").await;
        insert_role(pool(&db), admin_b, b, "admin").await;
        Self {
            db,
            a: BrandId::from_uuid(a),
            b: BrandId::from_uuid(b),
            admin: UserId::from_uuid(admin),
            editor: UserId::from_uuid(editor),
            viewer: UserId::from_uuid(viewer),
            admin_b: UserId::from_uuid(admin_b),
        }
    }

    async fn scope(&self, user: UserId) -> Scope {
        let brand = if user == self.admin_b { self.b } else { self.a };
        self.db.database().scope(user, brand).await.unwrap()
    }

    /// Creates and commits a claim in brand A as its admin.
    async fn claim(&self, builder: NewClaimBuilder) -> Claim {
        let mut scope = self.scope(self.admin).await;
        let claim = scope
            .claims()
            .create(&builder.build().unwrap())
            .await
            .unwrap();
        scope.commit().await.unwrap();
        claim
    }

    /// How many audit events the claim has, read as the owner (past row-level security).
    async fn events(&self, id: ClaimId) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM mixerai.events WHERE aggregate_id = $1")
            .bind(id.as_uuid())
            .fetch_one(pool(&self.db))
            .await
            .unwrap()
    }
}

fn is_stale(result: &Result<Claim, Error>, expected: i32, actual: i32) -> bool {
    matches!(
        result,
        Err(Error::Stale { entity: "claim", expected: e, actual: a }) if *e == expected && *a == actual
    )
}

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

fn country(c: &str) -> CountryCode {
    CountryCode::parse(c).unwrap()
}

fn basic(text: &str) -> NewClaimBuilder {
    NewClaim::builder()
        .claim_type(ClaimType::Product)
        .level(ClaimLevel::Product)
        .status(ClaimStatus::Allowed)
        .text(text)
        .effective_from(at(2025, 1, 1))
}

fn ids(claims: &[Claim]) -> Vec<ClaimId> {
    claims.iter().map(|c| c.id).collect()
}

#[tokio::test]
async fn an_admin_creates_a_claim_that_reads_back_unchanged_for_every_member() {
    let w = World::new().await;
    let product = Uuid::new_v4();
    let created = w
        .claim(
            basic("Rich in fibre")
                .translation("fr", "Riche en fibres")
                .country("gb")
                .country("FR")
                .product(product)
                .ingredient("oats")
                .effective_to(at(2026, 1, 1))
                .regulatory_reference("EC 1924/2006")
                .documentation_url("https://example.com/fibre.pdf")
                .notes("Reviewed by legal")
                .replacement(("FR", "Source de fibres", "Threshold differs")),
        )
        .await;
    assert_eq!(created.brand_id, w.a);
    assert_eq!(created.version, 1);
    assert_eq!((created.created_by, created.updated_by), (w.admin, w.admin));
    assert_eq!(created.text.original(), "Rich in fibre");
    assert_eq!(
        created.text.translation(LanguageCode::parse("fr").unwrap()),
        Some("Riche en fibres")
    );
    assert_eq!(created.countries, [country("GB"), country("FR")]);
    assert_eq!(created.products, [product]);
    assert_eq!(created.ingredients, ["oats"]);
    assert_eq!(created.effective_from, at(2025, 1, 1));
    assert_eq!(created.effective_to, Some(at(2026, 1, 1)));
    assert_eq!(created.regulatory_references, ["EC 1924/2006"]);
    assert_eq!(
        created.documentation_urls,
        ["https://example.com/fibre.pdf"]
    );
    assert_eq!(created.notes.as_deref(), Some("Reviewed by legal"));
    assert_eq!(created.replacements[0].country, country("FR"));
    assert_eq!(created.replacements[0].reason, "Threshold differs");
    assert_eq!(created.deleted_at, None);

    for reader in [w.admin, w.editor, w.viewer] {
        let mut scope = w.scope(reader).await;
        assert_eq!(scope.claims().get(created.id).await.unwrap(), created);
    }
}

#[tokio::test]
async fn a_missing_claim_is_not_found_and_null_lists_written_by_others_read_as_empty() {
    let w = World::new().await;
    let mut scope = w.scope(w.viewer).await;
    assert!(matches!(
        scope.claims().get(ClaimId::new()).await,
        Err(Error::NotFound { entity: "claim" })
    ));
    drop(scope);
    // Written as the spec's SQL allows: NULL arrays and replacements.
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO mixerai.claims (brand_id, type, level, text, status, created_by, updated_by)
         VALUES ($1, 'master', 'brand', '{\"original\": \"Tasty\"}', 'mandatory', $2, $2) RETURNING id",
    )
    .bind(w.a)
    .bind(w.admin)
    .fetch_one(pool(&w.db))
    .await
    .unwrap();
    let mut scope = w.scope(w.viewer).await;
    let claim = scope.claims().get(ClaimId::from_uuid(id)).await.unwrap();
    assert!(claim.products.is_empty() && claim.ingredients.is_empty());
    assert!(claim.regulatory_references.is_empty() && claim.documentation_urls.is_empty());
    assert!(claim.replacements.is_empty() && claim.countries.is_empty());
    assert_eq!(claim.status, ClaimStatus::Mandatory);
}

#[tokio::test]
async fn an_update_saves_the_patch_bumps_the_version_and_records_who() {
    let w = World::new().await;
    let claim = w.claim(basic("Low fat").country("GB").notes("Old")).await;
    // A second admin makes the change, so updated_by visibly moves.
    let second = insert_user(pool(&w.db), "admin2@example.com").await;
    insert_role(pool(&w.db), second, w.a.as_uuid(), "admin").await;
    let second = UserId::from_uuid(second);
    let mut scope = w.db.database().scope(second, w.a).await.unwrap();
    let patch = ClaimPatch::builder()
        .status(ClaimStatus::Disallowed)
        .text("Low in fat")
        .translation("de", "Fettarm")
        .countries(["gb", "de"])
        .clear_notes()
        .effective_to(at(2030, 1, 1))
        .replacements([("DE", "Fettreduziert", "Labelling law")])
        .build()
        .unwrap();
    let updated = scope.claims().update(claim.id, 1, &patch).await.unwrap();
    scope.commit().await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.updated_by, second);
    assert_eq!(updated.created_by, w.admin);
    assert_eq!(updated.status, ClaimStatus::Disallowed);
    assert_eq!(updated.text.original(), "Low in fat");
    assert_eq!(updated.countries, [country("GB"), country("DE")]);
    assert_eq!(updated.notes, None);
    assert_eq!(updated.effective_to, Some(at(2030, 1, 1)));
    assert_eq!(updated.replacements.len(), 1);
    // Untouched fields are kept.
    assert_eq!(updated.claim_type, ClaimType::Product);
    assert_eq!(updated.effective_from, claim.effective_from);
    assert!(updated.updated_at >= claim.updated_at);

    let mut scope = w.scope(w.viewer).await;
    assert_eq!(scope.claims().get(claim.id).await.unwrap(), updated);
}

#[tokio::test]
async fn a_stale_write_is_stale_with_the_current_version_and_overwrites_nothing() {
    let w = World::new().await;
    let claim = w.claim(basic("Crunchy")).await;
    let mut scope = w.scope(w.admin).await;
    let first = ClaimPatch::builder().text("Extra crunchy").build().unwrap();
    scope.claims().update(claim.id, 1, &first).await.unwrap();
    scope.commit().await.unwrap();

    let mut scope = w.scope(w.admin).await;
    let stale = ClaimPatch::builder()
        .status(ClaimStatus::Disallowed)
        .build()
        .unwrap();
    let result = scope.claims().update(claim.id, 1, &stale).await;
    assert!(is_stale(&result, 1, 2), "{result:?}");
    // Also when the patch is first checked against the stored claim.
    let ranged = ClaimPatch::builder()
        .effective_to(at(2030, 1, 1))
        .build()
        .unwrap();
    let result = scope.claims().update(claim.id, 1, &ranged).await;
    assert!(is_stale(&result, 1, 2), "{result:?}");
    let result = scope.claims().soft_delete(claim.id, 1).await;
    assert!(is_stale(&result, 1, 2), "soft_delete: {result:?}");
    let deleted = scope.claims().soft_delete(claim.id, 2).await.unwrap();
    let result = scope.claims().restore(claim.id, 2).await;
    assert!(is_stale(&result, 2, 3), "restore: {result:?}");
    let restored = scope.claims().restore(claim.id, 3).await.unwrap();
    assert_eq!((deleted.version, restored.version), (3, 4));
    let current = scope.claims().get(claim.id).await.unwrap();
    assert_eq!(current.version, 4);
    assert_eq!(current.status, ClaimStatus::Allowed);
    assert_eq!(current.effective_to, None);
    assert_eq!(current.text.original(), "Extra crunchy");
}

#[tokio::test]
async fn an_empty_patch_writes_no_row_and_no_audit_event() {
    let w = World::new().await;
    let claim = w.claim(basic("Crunchy")).await;
    let events = w.events(claim.id).await;
    assert_eq!(events, 1, "the creation is audited");
    let empty = ClaimPatch::builder().build().unwrap();
    let mut scope = w.scope(w.admin).await;
    assert_eq!(
        scope.claims().update(claim.id, 1, &empty).await.unwrap(),
        claim
    );
    let result = scope.claims().update(claim.id, 2, &empty).await;
    assert!(is_stale(&result, 2, 1), "{result:?}");
    scope.commit().await.unwrap();
    assert_eq!(w.events(claim.id).await, events);
    // A soft-deleted claim is not there to patch, even with nothing.
    let mut scope = w.scope(w.admin).await;
    scope.claims().soft_delete(claim.id, 1).await.unwrap();
    assert!(matches!(
        scope.claims().update(claim.id, 2, &empty).await,
        Err(Error::NotFound { entity: "claim" })
    ));
}

#[tokio::test]
async fn of_two_concurrent_updates_from_the_same_version_exactly_one_wins() {
    let w = World::new().await;
    let claim = w.claim(basic("Smooth")).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let attempt = |status: ClaimStatus| {
        let barrier = barrier.clone();
        let db = w.db.database().clone();
        let (admin, brand) = (w.admin, w.a);
        tokio::spawn(async move {
            let mut scope = db.scope(admin, brand).await.unwrap();
            let patch = ClaimPatch::builder().status(status).build().unwrap();
            // Both have read version 1 before either writes.
            scope.claims().get(claim.id).await.unwrap();
            barrier.wait().await;
            let result = scope.claims().update(claim.id, 1, &patch).await;
            if result.is_ok() {
                // Hold the row lock a moment so the other writer queues behind it.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                scope.commit().await.unwrap();
            }
            result.map(|c| c.status)
        })
    };
    let (one, two) = tokio::join!(
        attempt(ClaimStatus::Disallowed),
        attempt(ClaimStatus::Mandatory)
    );
    let results = [one.unwrap(), two.unwrap()];
    let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    assert!(
        results.iter().any(|r| matches!(
            r,
            Err(Error::Stale {
                entity: "claim",
                expected: 1,
                actual: 2
            })
        )),
        "{results:?}"
    );
    let mut scope = w.scope(w.viewer).await;
    let now = scope.claims().get(claim.id).await.unwrap();
    assert_eq!((now.version, now.status), (2, *won[0]));
}

#[tokio::test]
async fn an_update_that_breaks_the_rules_between_fields_reports_every_problem_and_writes_nothing() {
    let w = World::new().await;
    let claim = w
        .claim(basic("Vegan").country("GB").country("FR").replacement((
            "FR",
            "Végétalien",
            "Wording",
        )))
        .await;
    let mut scope = w.scope(w.admin).await;
    // Each field is fine alone; together with what the claim holds, two rules break.
    let patch = ClaimPatch::builder()
        .countries(["GB"])
        .effective_to(at(2024, 1, 1))
        .build()
        .unwrap();
    let err = scope
        .claims()
        .update(claim.id, 1, &patch)
        .await
        .unwrap_err();
    let report = err.validation().expect("Error::Invalid");
    let fields: Vec<_> = report.errors().iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["effective_to", "replacements[0].country"],
        "{report}"
    );
    assert_eq!(scope.claims().get(claim.id).await.unwrap(), claim);
    scope.commit().await.unwrap();
    assert_eq!(w.events(claim.id).await, 1, "nothing but the creation");
}

#[tokio::test]
async fn editors_and_viewers_read_claims_but_every_write_is_forbidden() {
    let w = World::new().await;
    let claim = w.claim(basic("Organic")).await;
    let new = basic("Editor's claim").build().unwrap();
    let patch = ClaimPatch::builder()
        .status(ClaimStatus::Disallowed)
        .build()
        .unwrap();
    for user in [w.editor, w.viewer] {
        let mut scope = w.scope(user).await;
        assert!(
            matches!(
                scope.claims().create(&new).await,
                Err(Error::Forbidden { .. })
            ),
            "create"
        );
        // The refused INSERT aborted the transaction; the rest runs in a fresh one.
        let mut scope = w.scope(user).await;
        assert!(matches!(
            scope.claims().update(claim.id, 1, &patch).await,
            Err(Error::Forbidden { .. })
        ));
        assert!(matches!(
            scope.claims().soft_delete(claim.id, 1).await,
            Err(Error::Forbidden { .. })
        ));
        let listed = scope
            .claims()
            .list(&ClaimFilter::default(), &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(ids(&listed.items), [claim.id]);
    }
    let mut scope = w.scope(w.admin).await;
    assert_eq!(scope.claims().get(claim.id).await.unwrap(), claim);
}

#[tokio::test]
async fn another_brands_admin_sees_and_changes_nothing() {
    let w = World::new().await;
    let claim = w.claim(basic("Fresh")).await;
    let mut scope = w.scope(w.admin_b).await;
    let patch = ClaimPatch::builder()
        .status(ClaimStatus::Disallowed)
        .build()
        .unwrap();
    assert!(matches!(
        scope.claims().get(claim.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        scope.claims().update(claim.id, 1, &patch).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        scope.claims().soft_delete(claim.id, 1).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        scope.claims().restore(claim.id, 1).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        scope.claims().get_including_deleted(claim.id).await,
        Err(Error::NotFound { .. })
    ));
    let listed = scope
        .claims()
        .list(&ClaimFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert!(listed.items.is_empty() && listed.next.is_none());
    // B's own claims are B's.
    let own = scope
        .claims()
        .create(&basic("B's claim").build().unwrap())
        .await
        .unwrap();
    assert_eq!(own.brand_id, w.b);
    scope.commit().await.unwrap();
    let mut scope = w.scope(w.admin).await;
    let listed = scope
        .claims()
        .list(&ClaimFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(ids(&listed.items), [claim.id]);
}

#[tokio::test]
async fn a_soft_deleted_claim_leaves_get_and_lists_is_found_including_deleted_and_can_be_restored()
{
    let w = World::new().await;
    let claim = w.claim(basic("Gluten free")).await;
    let other = w.claim(basic("Nut free")).await;
    let mut scope = w.scope(w.admin).await;
    let deleted = scope.claims().soft_delete(claim.id, 1).await.unwrap();
    assert!(deleted.deleted_at.is_some());
    assert_eq!(deleted.version, 2);
    let all = ClaimFilter::default();
    let page = PageRequest::default();
    assert_eq!(
        ids(&scope.claims().list(&all, &page).await.unwrap().items),
        [other.id]
    );
    let only = ClaimFilter {
        deleted: Deleted::Only,
        ..all
    };
    assert_eq!(
        ids(&scope.claims().list(&only, &page).await.unwrap().items),
        [claim.id]
    );
    let include = ClaimFilter {
        deleted: Deleted::Include,
        ..all
    };
    assert_eq!(
        ids(&scope.claims().list(&include, &page).await.unwrap().items),
        [other.id, claim.id]
    );
    assert!(matches!(
        scope.claims().get(claim.id).await,
        Err(Error::NotFound { entity: "claim" })
    ));
    assert_eq!(
        scope
            .claims()
            .get_including_deleted(claim.id)
            .await
            .unwrap(),
        deleted
    );

    let patch = ClaimPatch::builder().text("x").build().unwrap();
    assert!(matches!(
        scope.claims().update(claim.id, 2, &patch).await,
        Err(Error::NotFound { entity: "claim" })
    ));
    assert!(matches!(
        scope.claims().soft_delete(claim.id, 2).await,
        Err(Error::NotFound { entity: "claim" })
    ));

    let restored = scope.claims().restore(claim.id, 2).await.unwrap();
    assert_eq!((restored.version, restored.deleted_at), (3, None));
    assert!(matches!(
        scope.claims().restore(claim.id, 3).await,
        Err(Error::NotFound { entity: "claim" })
    ));
    assert_eq!(scope.claims().get(claim.id).await.unwrap(), restored);
    assert_eq!(
        ids(&scope.claims().list(&all, &page).await.unwrap().items),
        [other.id, claim.id]
    );
    scope.commit().await.unwrap();
    assert_eq!(w.events(claim.id).await, 3, "created, deleted, restored");
}

#[tokio::test]
async fn filters_select_by_status_type_level_country_and_effective_date() {
    let w = World::new().await;
    let everywhere = w.claim(basic("Everywhere")).await;
    let gb = w.claim(basic("GB only").country("GB")).await;
    let fr_de = w
        .claim(
            basic("FR and DE")
                .country("FR")
                .country("DE")
                .effective_from(at(2025, 6, 1))
                .effective_to(at(2025, 9, 1)),
        )
        .await;
    let banned = w
        .claim(
            NewClaim::builder()
                .claim_type(ClaimType::Ingredient)
                .level(ClaimLevel::Ingredient)
                .status(ClaimStatus::Disallowed)
                .text("Sugar free")
                .effective_from(at(2026, 1, 1)),
        )
        .await;
    let mut scope = w.scope(w.viewer).await;
    let page = PageRequest::default();
    let mut list =
        async |filter: ClaimFilter| ids(&scope.claims().list(&filter, &page).await.unwrap().items);
    let all = ClaimFilter::default();
    let status = |s| ClaimFilter {
        status: Some(s),
        ..all
    };
    let level = |l| ClaimFilter {
        level: Some(l),
        ..all
    };
    let within = |c: &str| ClaimFilter {
        country: Some(country(c)),
        ..all
    };
    let effective = |t| ClaimFilter {
        effective_at: Some(t),
        ..all
    };
    assert_eq!(
        list(all).await,
        [banned.id, fr_de.id, gb.id, everywhere.id],
        "newest first"
    );
    assert_eq!(list(status(ClaimStatus::Disallowed)).await, [banned.id]);
    let ingredient = ClaimFilter {
        claim_type: Some(ClaimType::Ingredient),
        ..all
    };
    assert_eq!(list(ingredient).await, [banned.id]);
    assert_eq!(
        list(level(ClaimLevel::Product)).await,
        [fr_de.id, gb.id, everywhere.id]
    );
    // A claim listing no country applies in every country.
    assert_eq!(
        list(within("FR")).await,
        [banned.id, fr_de.id, everywhere.id]
    );
    assert_eq!(list(within("GB")).await, [banned.id, gb.id, everywhere.id]);
    assert_eq!(list(within("US")).await, [banned.id, everywhere.id]);
    // Effective: from inclusive, to exclusive.
    assert_eq!(
        list(effective(at(2025, 6, 1))).await,
        [fr_de.id, gb.id, everywhere.id]
    );
    assert_eq!(
        list(effective(at(2025, 9, 1))).await,
        [gb.id, everywhere.id]
    );
    assert_eq!(
        list(effective(at(2025, 9, 1) - Duration::microseconds(1))).await,
        [fr_de.id, gb.id, everywhere.id]
    );
    assert_eq!(list(effective(at(2024, 12, 31))).await, []);
    let both = ClaimFilter {
        country: Some(country("DE")),
        ..effective(at(2026, 1, 1))
    };
    assert_eq!(list(both).await, [banned.id, everywhere.id]);
    let fr_de_row = scope.claims().get(fr_de.id).await.unwrap();
    assert!(fr_de_row.applies_in(country("DE")) && !fr_de_row.applies_in(country("GB")));
    assert!(!fr_de_row.is_effective_at(at(2025, 9, 1)));
}

#[tokio::test]
async fn pages_follow_each_other_without_gaps_or_repeats_even_with_equal_timestamps() {
    let w = World::new().await;
    // One transaction: every claim has the same created_at, so only the id orders them.
    let mut scope = w.scope(w.admin).await;
    let mut created = Vec::new();
    for i in 0..7 {
        let claim = scope
            .claims()
            .create(&basic(&format!("Claim {i}")).build().unwrap())
            .await
            .unwrap();
        created.push(claim.id);
    }
    scope.commit().await.unwrap();
    let later = w.claim(basic("Later")).await;

    let mut scope = w.scope(w.viewer).await;
    let filter = ClaimFilter::default();
    let mut request = PageRequest::first(3);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = scope.claims().list(&filter, &request).await.unwrap();
        assert!(page.items.len() <= 3);
        pages += 1;
        seen.extend(ids(&page.items));
        match page.next {
            Some(cursor) => request = request.after(cursor),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    created.sort_by_key(|id| std::cmp::Reverse(id.as_uuid()));
    let mut expected = vec![later.id];
    expected.extend(created);
    assert_eq!(seen, expected);
}

mod round_trip {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    const COUNTRIES: [&str; 6] = ["GB", "FR", "DE", "US", "JP", "BR"];
    const LANGUAGES: [&str; 5] = ["fr", "de", "es", "ja", "pt"];

    #[derive(Debug, Clone)]
    struct Input {
        kind: (usize, usize, usize),
        original: String,
        translations: Vec<(usize, String)>,
        countries: Vec<usize>,
        products: Vec<u128>,
        ingredients: Vec<String>,
        from_micros: i64,
        length_micros: Option<i64>,
        references: Vec<String>,
        urls: Vec<String>,
        notes: Option<String>,
        replace_first: Option<(String, String)>,
    }

    fn text() -> impl Strategy<Value = String> {
        // Any non-blank text without NUL: letters of several scripts, quotes, backslashes, emoji.
        "[a-zA-Z0-9 éß日本\"'\\\\{}\u{1F600}]{0,12}[a-zA-Z0-9éß日本\u{1F600}]"
    }

    fn input() -> impl Strategy<Value = Input> {
        (
            (0..3usize, 0..3usize, 0..3usize),
            text(),
            proptest::sample::subsequence((0..LANGUAGES.len()).collect::<Vec<_>>(), 0..3)
                .prop_flat_map(|ls| {
                    let n = ls.len();
                    (Just(ls), proptest::collection::vec(text(), n))
                })
                .prop_map(|(ls, ts)| ls.into_iter().zip(ts).collect::<Vec<_>>()),
            proptest::sample::subsequence((0..COUNTRIES.len()).collect::<Vec<_>>(), 0..4),
            proptest::collection::hash_set(any::<u128>(), 0..3)
                .prop_map(|s| s.into_iter().collect::<Vec<_>>()),
            proptest::collection::hash_set(text(), 0..3)
                .prop_map(|s| s.into_iter().collect::<Vec<_>>()),
            (
                -62_000_000_000_000_000i64..250_000_000_000_000_000,
                proptest::option::of(1i64..10_000_000_000_000),
            ),
            proptest::collection::hash_set(text(), 0..2)
                .prop_map(|s| s.into_iter().collect::<Vec<_>>()),
            proptest::collection::hash_set(
                "https?://[a-z]{1,8}\\.[a-z]{2,3}(/[a-z0-9._~-]{0,10})?",
                0..3,
            )
            .prop_map(|s| s.into_iter().collect::<Vec<_>>()),
            proptest::option::of("[^\u{0}]{0,20}"),
            proptest::option::of((text(), text())),
        )
            .prop_map(
                |(
                    kind,
                    original,
                    translations,
                    countries,
                    products,
                    ingredients,
                    (from, len),
                    references,
                    urls,
                    notes,
                    replace_first,
                )| Input {
                    kind,
                    original,
                    translations,
                    countries,
                    products,
                    ingredients,
                    from_micros: from,
                    length_micros: len,
                    references,
                    urls,
                    notes,
                    replace_first,
                },
            )
    }

    #[test]
    fn whatever_the_builder_accepts_round_trips_through_the_database_unchanged() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let w = rt.block_on(World::new());
        let mut runner = TestRunner::new(Config {
            cases: 24,
            ..Config::default()
        });
        runner
            .run(&input(), |i| {
                rt.block_on(check(&w, i));
                Ok(())
            })
            .unwrap();
    }

    async fn check(w: &World, i: Input) {
        let types = [ClaimType::Master, ClaimType::Product, ClaimType::Ingredient];
        let levels = [
            ClaimLevel::Brand,
            ClaimLevel::Product,
            ClaimLevel::Ingredient,
        ];
        let statuses = [
            ClaimStatus::Allowed,
            ClaimStatus::Disallowed,
            ClaimStatus::Mandatory,
        ];
        let from = DateTime::from_timestamp_micros(i.from_micros).unwrap();
        let to = i
            .length_micros
            .and_then(|l| DateTime::from_timestamp_micros(i.from_micros.checked_add(l)?));
        let mut b = NewClaim::builder()
            .claim_type(types[i.kind.0])
            .level(levels[i.kind.1])
            .status(statuses[i.kind.2])
            .text(i.original.clone())
            .effective_from(from);
        for (l, t) in &i.translations {
            b = b.translation(LANGUAGES[*l].to_uppercase(), t.clone());
        }
        for c in &i.countries {
            b = b.country(COUNTRIES[*c].to_lowercase());
        }
        for p in &i.products {
            b = b.product(Uuid::from_u128(*p));
        }
        for g in &i.ingredients {
            b = b.ingredient(g.clone());
        }
        if let Some(to) = to {
            b = b.effective_to(to);
        }
        for r in &i.references {
            b = b.regulatory_reference(r.clone());
        }
        for u in &i.urls {
            b = b.documentation_url(u.clone());
        }
        if let Some(n) = &i.notes {
            b = b.notes(n.clone());
        }
        let replacement_country = i.countries.first().map_or("GB", |c| COUNTRIES[*c]);
        if let Some((r, why)) = &i.replace_first {
            b = b.replacement((replacement_country, r.clone(), why.clone()));
        }
        let new = match b.build() {
            Ok(new) => new,
            // Only dates beyond year 9999 are refused by construction of the strategy.
            Err(e) => {
                assert!(
                    e.errors().iter().all(|f| f.field.starts_with("effective_")),
                    "{e}"
                );
                return;
            }
        };
        let mut scope = w.scope(w.admin).await;
        let created = scope.claims().create(&new).await.unwrap();
        let got = scope.claims().get(created.id).await.unwrap();
        scope.commit().await.unwrap();
        assert_eq!(got, created);
        assert_eq!(got.claim_type, types[i.kind.0]);
        assert_eq!(got.level, levels[i.kind.1]);
        assert_eq!(got.status, statuses[i.kind.2]);
        assert_eq!(got.text.original(), i.original);
        let mut translations: Vec<_> = i
            .translations
            .iter()
            .map(|(l, t)| (LanguageCode::parse(LANGUAGES[*l]).unwrap(), t.as_str()))
            .collect();
        translations.sort();
        assert_eq!(got.text.translations().collect::<Vec<_>>(), translations);
        let countries: Vec<_> = i.countries.iter().map(|c| country(COUNTRIES[*c])).collect();
        assert_eq!(got.countries, countries);
        let products: Vec<_> = i.products.iter().map(|p| Uuid::from_u128(*p)).collect();
        assert_eq!(got.products, products);
        assert_eq!(got.ingredients, i.ingredients);
        assert_eq!(got.effective_from, from);
        assert_eq!(got.effective_to, to);
        assert_eq!(got.regulatory_references, i.references);
        assert_eq!(got.documentation_urls, i.urls);
        assert_eq!(got.notes, i.notes);
        match &i.replace_first {
            Some((r, why)) => {
                assert_eq!(got.replacements.len(), 1);
                assert_eq!(got.replacements[0].country, country(replacement_country));
                assert_eq!(
                    (
                        &got.replacements[0].replacement,
                        &got.replacements[0].reason
                    ),
                    (r, why)
                );
            }
            None => assert!(got.replacements.is_empty()),
        }
        // And through serde, as a host would hand it to a client.
        let json = serde_json::to_string(&got).unwrap();
        assert_eq!(serde_json::from_str::<Claim>(&json).unwrap(), got);
    }
}

mod plans {
    //! The list's shapes at 5,000 claims per brand, explained inside a scope (policies included):
    //! each page is read in index order from `idx_claims_brand_created`, never sorted, never a
    //! sequential scan. The statements mirror what `ClaimRepo::list` builds.
    use super::*;
    use crate::support::plan_nodes;
    use serde_json::Value;

    #[tokio::test]
    async fn every_filter_of_the_list_reads_the_brand_created_index_in_order_without_sorting() {
        let w = World::new().await;
        sqlx::query(
            "INSERT INTO mixerai.claims (brand_id, type, level, text, status, countries, created_by, updated_by,
                created_at, effective_from)
             SELECT CASE WHEN g % 2 = 0 THEN $1 ELSE $2 END, 'product', 'product', '{\"original\": \"x\"}',
                    (ARRAY['allowed', 'disallowed', 'mandatory'])[g % 3 + 1],
                    CASE WHEN g % 5 = 0 THEN '{}'::text[] ELSE ARRAY['GB', 'FR'] END, $3, $3,
                    now() - g * interval '1 minute', now() - g * interval '1 day'
             FROM generate_series(1, 10000) AS g",
        )
        .bind(w.a)
        .bind(w.b)
        .bind(w.admin)
        .execute(pool(&w.db))
        .await
        .unwrap();
        sqlx::query("ANALYZE mixerai.claims")
            .execute(pool(&w.db))
            .await
            .unwrap();

        let base = "SELECT id FROM mixerai.claims WHERE brand_id = $1 AND deleted_at IS NULL";
        let tail = " AND (created_at, id) < ($3, $4) ORDER BY created_at DESC, id DESC LIMIT 26";
        let filters = [
            ("no filter", " AND $2::text IS NULL"),
            ("status", " AND status = $2"),
            ("type", " AND type = $2"),
            (
                "country",
                " AND (countries = '{}' OR countries @> ARRAY[$2::text])",
            ),
            (
                "effective at",
                " AND effective_from <= $2::text::timestamptz AND (effective_to IS NULL OR $2::text::timestamptz < effective_to)",
            ),
        ];
        let mut scope = w.scope(w.viewer).await;
        for (what, filter) in filters {
            let param = match what {
                "status" => "disallowed",
                "type" => "product",
                "country" => "DE",
                "effective at" => "2020-01-01T00:00:00Z",
                _ => "",
            };
            let sql = format!("EXPLAIN (FORMAT JSON) {base}{filter}{tail}");
            let plan: Value = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(w.a)
                .bind((what != "no filter").then_some(param))
                .bind(Utc::now())
                .bind(Uuid::max())
                .fetch_one(scope.connection())
                .await
                .unwrap();
            let nodes = plan_nodes(&plan[0]["Plan"]);
            let kinds: Vec<_> = nodes
                .iter()
                .map(|n| n["Node Type"].as_str().unwrap_or(""))
                .collect();
            assert!(
                !kinds.contains(&"Sort") && !kinds.contains(&"Seq Scan"),
                "{what}: {plan:#}"
            );
            assert!(
                nodes
                    .iter()
                    .any(|n| n["Index Name"] == "idx_claims_brand_created"),
                "{what}: {plan:#}"
            );
        }
    }
}
