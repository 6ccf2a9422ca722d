//! Compliance checks (`ClaimRepo::check`), the stale-check listing and the gate, run as
//! `mixerai_app` through scopes, on a product page in English for GB and in French for FR.

use chrono::{DateTime, Duration, Utc};
use mixerai_data::claims::{
    ClaimLevel, ClaimPatch, ClaimStatus, ClaimType, ComplianceCheck, ComplianceSettingsPatch,
    Finding, FindingKind, GateRequest, GateStage, GateVerdict, NewClaim, NewComplianceSettings,
    ResolutionRequest, ResolutionRule, StaleCheck,
};
use mixerai_data::content::{
    Content, ContentPatch, ContentStatus, JobAction, NewContent, publish_due,
};
use mixerai_data::types::{ClaimId, ContentId, LanguageCode};
use mixerai_data::{Error, PageRequest};
use serde_json::json;
use uuid::Uuid;

use crate::claims_resolve::{Brands, at, country};
use crate::support::pool;

/// The English product page: several paragraphs of HTML, mixed case, a disallowed claim and an
/// allowed one each split across a line break, a guardrail's word, a claim in a template field; the
/// mandatory GB statement is missing.
const EN_TITLE: &str = "Golden Oat Crunch: HIGH IN FIBRE breakfast oats";
const EN_BODY: &str = "<h2>Why you&rsquo;ll love it</h2>
<p>Golden Oat Crunch is made with wholegrain oats that are <strong>High in
Fibre</strong>, baked slowly with a touch of honey.</p>
<p>Oat beta-glucan contributes to the maintenance of normal blood
cholesterol levels. The beneficial effect is obtained with a daily intake of 3 g.</p>
<p>Some say a bowl a day PREVENTS heart
disease; we simply say it tastes great.</p>
<p>It&rsquo;s the Superfood your mornings deserve.</p>";
const EN_TAGLINE: &str = "Guaranteed weight loss? No. Just a good breakfast.";

/// The French page: accents, curly apostrophes, a claim worded where FR has a replacement, an
/// FR-only disallowed claim, a disallowed translation in capitals, and the mandatory FR statement
/// written without its accents.
const FR_TITLE: &str = "Golden Oat Crunch : RICHE EN FIBRES";
const FR_BODY: &str =
    "<p>Des flocons d’avoine complète, cuits lentement, <em>sans additifs</em>.</p>
<p>Les bêta-glucanes d’avoine contribuent au maintien d’une
cholestérolémie normale.</p>
<p>Un bol par jour PRÉVIENT les maladies cardiaques ? Nous disons plutôt qu’il est délicieux.</p>
<p>Le petit-déjeuner Miracle de vos matins.</p>
<p>A consommer dans le cadre d'une alimentation variee et equilibree.</p>";

/// A page that passes in GB and in FR: both mandatory statements, nothing disallowed.
const FIXED_TITLE: &str = "Golden Oat Crunch";
const FIXED_BODY: &str =
    "<p>Enjoy as part of a varied and balanced diet and a healthy lifestyle.</p>
<p>À consommer dans le cadre d'une alimentation variée et équilibrée.</p>";

struct Shop {
    w: Brands,
    /// The claims by a short name.
    prevents: Uuid,
    beta_glucan: Uuid,
    no_additives: Uuid,
    fibre: Uuid,
    balanced_gb: Uuid,
    balanced_fr: Uuid,
    weight_loss: Uuid,
}

async fn shop() -> Shop {
    let w = Brands::new().await;
    sqlx::query(
        "UPDATE mixerai.brands SET guardrails = ARRAY['Never call a product a \"superfood\"',
             'Ne dites jamais « miracle »', 'Keep sentences short'] WHERE id = $1",
    )
    .bind(w.own)
    .execute(pool(&w.db))
    .await
    .unwrap();
    // The regulator's register: a disallowed health claim, an authorised one, an FR-only rule.
    let prevents = w
        .claim(
            w.master,
            json!({ "status": "disallowed", "text": { "original": "Prevents heart disease",
                    "fr": "Prévient les maladies cardiaques" } }),
        )
        .await;
    let beta_glucan = w
        .claim(
            w.master,
            json!({ "text": {
                "original": "Oat beta-glucan contributes to the maintenance of normal blood cholesterol levels",
                "fr": "Les bêta-glucanes d'avoine contribuent au maintien d'une cholestérolémie normale" } }),
        )
        .await;
    let no_additives = w
        .claim(
            w.master,
            json!({ "status": "disallowed", "countries": ["FR"],
                    "text": { "original": "No additives", "fr": "Sans additifs" } }),
        )
        .await;
    // The brand's own: a nutrition claim with a French replacement, a mandatory statement per market.
    let fibre = w
        .claim(
            w.own,
            json!({ "text": { "original": "High in fibre", "fr": "Riche en fibres" },
                    "replacements": [{ "country": "FR", "replacement": "Source de fibres",
                                       "reason": "The French recipe has 4 g of fibre per 100 g" }] }),
        )
        .await;
    let balanced_gb = w
        .claim(
            w.own,
            json!({ "status": "mandatory", "countries": ["GB"],
                    "text": "Enjoy as part of a varied and balanced diet and a healthy lifestyle" }),
        )
        .await;
    let balanced_fr = w
        .claim(
            w.own,
            json!({ "status": "mandatory", "countries": ["FR"],
                    "text": { "original": "Enjoy as part of a varied and balanced diet",
                              "fr": "À consommer dans le cadre d'une alimentation variée et équilibrée" } }),
        )
        .await;
    // The parent's: never promise weight loss.
    let weight_loss = w
        .claim(
            w.parent,
            json!({ "status": "disallowed",
                    "text": { "original": "Guaranteed weight loss", "fr": "Perte de poids garantie" } }),
        )
        .await;
    Shop {
        w,
        prevents,
        beta_glucan,
        no_additives,
        fibre,
        balanced_gb,
        balanced_fr,
        weight_loss,
    }
}

impl Shop {
    async fn item(&self, title: &str, body: &str, tagline: Option<&str>) -> Content {
        let mut builder = NewContent::builder()
            .content_type("product")
            .title(title)
            .body(body)
            .excerpt("Crunchy wholegrain clusters, baked slowly.")
            .slug(format!("item-{}", Uuid::new_v4().simple()));
        if let Some(t) = tagline {
            builder = builder
                .field("tagline", json!(t))
                .field("servings", json!(12));
        }
        let mut scope = self.w.scope(self.w.admin).await;
        let item = scope
            .content()
            .create(&builder.build().unwrap())
            .await
            .unwrap();
        scope.commit().await.unwrap();
        item
    }

    async fn check(
        &self,
        item: ContentId,
        market: &str,
        lang: &str,
        when: DateTime<Utc>,
    ) -> ComplianceCheck {
        let mut scope = self.w.scope(self.w.admin).await;
        let check = scope
            .claims()
            .check(
                item,
                &ResolutionRequest::new(country(market), when)
                    .language(LanguageCode::parse(lang).unwrap()),
            )
            .await
            .unwrap();
        scope.commit().await.unwrap();
        check
    }

    /// Takes a draft through review to approved, as the brand's admin; panics on a refusal.
    async fn approved(&self, item: ContentId) -> Content {
        let c = self.in_review(item).await;
        self.approve(c.id).await.unwrap()
    }

    /// Submits a draft and starts its review, as the brand's admin.
    async fn in_review(&self, item: ContentId) -> Content {
        let mut scope = self.w.scope(self.w.admin).await;
        let c = scope.content().get(item).await.unwrap();
        let c = scope.content().submit(c.id, c.version).await.unwrap();
        let c = scope.content().start_review(c.id, c.version).await.unwrap();
        scope.commit().await.unwrap();
        c
    }

    /// Approves the item as it is now, as the brand's admin, in a scope of its own (committed when
    /// the step is taken).
    async fn approve(&self, item: ContentId) -> Result<Content, Error> {
        self.step(item, |scope, c| {
            Box::pin(async move { scope.content().approve(c.id, c.version).await })
        })
        .await
    }

    /// Publishes the item's approved version now, as the brand's admin.
    async fn publish(&self, item: ContentId) -> Result<Content, Error> {
        self.step(item, |scope, c| {
            Box::pin(async move { scope.content().publish(c.id, c.version).await })
        })
        .await
    }

    /// Schedules the item's approved version for `at`, as the brand's admin.
    async fn schedule(&self, item: ContentId, at: DateTime<Utc>) -> Result<Content, Error> {
        self.step(item, |scope, c| {
            Box::pin(async move { scope.content().schedule(c.id, c.version, at).await })
        })
        .await
    }

    /// Moves the item's pending schedule to `at`, as the brand's admin.
    async fn reschedule(&self, item: ContentId, at: DateTime<Utc>) -> Result<Content, Error> {
        self.step(item, |scope, c| {
            Box::pin(async move { scope.content().reschedule(c.id, c.version, Some(at)).await })
        })
        .await
    }

    /// Takes one lifecycle step on the item as it is now, as the brand's admin, in a scope of its own,
    /// committed when the step is taken.
    async fn step(
        &self,
        item: ContentId,
        step: impl for<'a> FnOnce(
            &'a mut mixerai_data::Scope,
            Content,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Content, Error>> + Send + 'a>,
        >,
    ) -> Result<Content, Error> {
        let mut scope = self.w.scope(self.w.admin).await;
        let c = scope.content().get(item).await.unwrap();
        let r = step(&mut scope, c).await;
        if r.is_ok() {
            scope.commit().await.unwrap();
        }
        r
    }

    /// The item as it is now, its approvals and its live version, as a viewer reads them.
    async fn read(&self, item: ContentId) -> (Content, usize, Option<i32>) {
        let mut scope = self.w.scope(self.w.viewer).await;
        let c = scope.content().get(item).await.unwrap();
        let approvals = scope.content().approvals(item).await.unwrap().len();
        let live = c.live_version;
        (c, approvals, live)
    }

    /// Creates the brand's compliance settings, as its admin.
    async fn settings(
        &self,
        new: mixerai_data::claims::NewComplianceSettingsBuilder,
    ) -> mixerai_data::claims::ComplianceSettings {
        let mut scope = self.w.scope(self.w.admin).await;
        let settings = scope
            .claims()
            .create_compliance_settings(&new.build().unwrap())
            .await
            .unwrap();
        scope.commit().await.unwrap();
        settings
    }

    async fn stale(&self) -> Vec<StaleCheck> {
        let mut scope = self.w.scope(self.w.viewer).await;
        scope
            .claims()
            .stale_checks(&PageRequest::first(100))
            .await
            .unwrap()
            .items
    }
}

/// (kind, claim, rule, field, matched text) of a finding.
type Seen = (
    FindingKind,
    Option<Uuid>,
    Option<ResolutionRule>,
    Option<String>,
    Option<String>,
);

fn seen(f: &Finding) -> Seen {
    (
        f.kind,
        f.claim_id.map(|c| c.as_uuid()),
        f.rule,
        f.location.as_ref().map(|l| l.field.clone()),
        f.location.as_ref().map(|l| l.text.clone()),
    )
}

/// Checks a finding's position against the text it points into, computed independently.
fn assert_located(f: &Finding, text: &str, needle: &str) {
    let l = f.location.as_ref().expect("a located finding");
    let start = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in the text"));
    assert_eq!((l.start, l.end), (start, start + needle.len()), "{needle}");
    assert_eq!(&text[l.start..l.end], l.text);
    let before = &text[..start];
    let line = before.lines().count().max(1) + usize::from(before.ends_with('\n'));
    let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
    assert_eq!((l.line, l.column), (line, column), "{needle}");
}

#[tokio::test]
async fn a_product_page_is_checked_for_gb_and_fr_with_findings_at_their_positions() {
    let s = shop().await;
    let when = Utc::now() + Duration::days(7);

    // GB, in English.
    let en = s.item(EN_TITLE, EN_BODY, Some(EN_TAGLINE)).await;
    let gb = s.check(en.id, "GB", "en", when).await;
    assert_eq!((gb.content_id, gb.version), (en.id, en.version));
    assert_eq!(
        (gb.country, gb.checked_for),
        (country("GB"), truncate(when))
    );
    let got: Vec<Seen> = gb.findings.iter().map(seen).collect();
    let expected: Vec<Seen> = vec![
        (
            FindingKind::DisallowedClaim,
            Some(s.prevents),
            Some(ResolutionRule::MasterDisallow),
            Some("body".into()),
            Some("PREVENTS heart\ndisease".into()),
        ),
        (
            FindingKind::GuardrailViolated,
            None,
            None,
            Some("body".into()),
            Some("Superfood".into()),
        ),
        (
            FindingKind::DisallowedClaim,
            Some(s.weight_loss),
            Some(ResolutionRule::Uncontested),
            Some("fields.tagline".into()),
            Some("Guaranteed weight loss".into()),
        ),
        (
            FindingKind::MissingMandatoryClaim,
            Some(s.balanced_gb),
            Some(ResolutionRule::Uncontested),
            None,
            None,
        ),
    ];
    assert_eq!(got, expected, "{:#?}", gb.findings);
    assert_located(&gb.findings[0], EN_BODY, "PREVENTS heart\ndisease");
    assert_located(&gb.findings[1], EN_BODY, "Superfood");
    assert_located(&gb.findings[2], EN_TAGLINE, "Guaranteed weight loss");
    assert_eq!(gb.findings[0].location.as_ref().unwrap().line, 6);
    assert_eq!(
        gb.findings[1].guardrail.as_deref(),
        Some("Never call a product a \"superfood\"")
    );
    assert_eq!(gb.findings[1].wording, "superfood");
    assert_eq!(
        gb.findings[3].wording,
        "Enjoy as part of a varied and balanced diet and a healthy lifestyle"
    );
    // Claims block, guardrails advise (the defaults); the allowed claims, one across a line break
    // and the other in capitals, are no findings.
    let blocking: Vec<bool> = gb.findings.iter().map(|f| f.blocking).collect();
    assert_eq!(blocking, [true, false, true, true]);
    assert!(!gb.is_clear());
    assert!(
        !gb.findings
            .iter()
            .any(|f| f.claim_id.map(|c| c.as_uuid()) == Some(s.beta_glucan))
    );

    // FR, in French.
    let fr_item = s.item(FR_TITLE, FR_BODY, None).await;
    let fr = s.check(fr_item.id, "FR", "fr", when).await;
    let got: Vec<Seen> = fr.findings.iter().map(seen).collect();
    let expected: Vec<Seen> = vec![
        (
            FindingKind::ReplacementRequired,
            Some(s.fibre),
            Some(ResolutionRule::Uncontested),
            Some("title".into()),
            Some("RICHE EN FIBRES".into()),
        ),
        (
            FindingKind::DisallowedClaim,
            Some(s.no_additives),
            Some(ResolutionRule::MasterDisallow),
            Some("body".into()),
            Some("sans additifs".into()),
        ),
        (
            FindingKind::DisallowedClaim,
            Some(s.prevents),
            Some(ResolutionRule::MasterDisallow),
            Some("body".into()),
            Some("PRÉVIENT les maladies cardiaques".into()),
        ),
        (
            FindingKind::GuardrailViolated,
            None,
            None,
            Some("body".into()),
            Some("Miracle".into()),
        ),
    ];
    assert_eq!(got, expected, "{:#?}", fr.findings);
    assert_located(&fr.findings[0], FR_TITLE, "RICHE EN FIBRES");
    assert_located(&fr.findings[1], FR_BODY, "sans additifs");
    assert_located(&fr.findings[2], FR_BODY, "PRÉVIENT les maladies cardiaques");
    assert_located(&fr.findings[3], FR_BODY, "Miracle");
    assert_eq!(
        fr.findings[0].suggestion.as_deref(),
        Some("Source de fibres")
    );
    assert_eq!(
        fr.findings[0].reason.as_deref(),
        Some("The French recipe has 4 g of fibre per 100 g")
    );
    assert_eq!(fr.findings[2].wording, "Prévient les maladies cardiaques");
    assert_eq!(fr.language.as_str(), "fr");
    // The mandatory FR statement is there, without its accents: no finding for it.
    assert!(
        !fr.findings
            .iter()
            .any(|f| f.claim_id.map(|c| c.as_uuid()) == Some(s.balanced_fr))
    );

    // The English page in FR: its English wording of the fibre claim needs the French replacement,
    // the FR-only rule has nothing to find, and the FR statement is missing.
    let en_in_fr = s.check(en.id, "FR", "fr", when).await;
    let kinds: Vec<(FindingKind, Option<Uuid>)> = en_in_fr
        .findings
        .iter()
        .map(|f| (f.kind, f.claim_id.map(|c| c.as_uuid())))
        .collect();
    assert!(
        kinds.contains(&(FindingKind::ReplacementRequired, Some(s.fibre))),
        "{kinds:?}"
    );
    assert!(kinds.contains(&(FindingKind::MissingMandatoryClaim, Some(s.balanced_fr))));
    assert!(!kinds.iter().any(|(_, c)| *c == Some(s.no_additives)));

    // What was recorded is what was returned, for every reader, and the last per market.
    let mut scope = s.w.scope(s.w.viewer).await;
    assert_eq!(scope.claims().compliance_check(gb.id).await.unwrap(), gb);
    let last: Vec<(String, i32)> = scope
        .claims()
        .last_checks(en.id)
        .await
        .unwrap()
        .iter()
        .map(|c| (c.country.to_string(), c.findings.len() as i32))
        .collect();
    assert_eq!(
        last,
        [
            ("FR".to_owned(), en_in_fr.findings.len() as i32),
            ("GB".to_owned(), 4)
        ]
    );
    // A viewer may read checks, not record them.
    let err = scope
        .claims()
        .check(en.id, &ResolutionRequest::new(country("GB"), when))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
}

/// Timestamps as PostgreSQL keeps them.
fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap()
}

#[tokio::test]
async fn a_check_of_a_version_since_replaced_is_refused_by_the_database_too() {
    let s = shop().await;
    let item = s.item(EN_TITLE, EN_BODY, None).await;
    let mut scope = s.w.scope(s.w.admin).await;
    // A record written past the crate (raw SQL in the scope) for a version the item has left is
    // refused by the database itself.
    let check = scope
        .claims()
        .check(item.id, &ResolutionRequest::new(country("GB"), Utc::now()))
        .await
        .unwrap();
    assert_eq!(check.version, 1);
    scope
        .content()
        .update(
            item.id,
            1,
            &ContentPatch::builder().title("Renamed").build().unwrap(),
        )
        .await
        .unwrap();
    let err = sqlx::query(
        "INSERT INTO mixerai.compliance_checks (brand_id, content_id, version, country, language,
             checked_for, rules_fingerprint, checked_by)
         VALUES ($1, $2, 1, 'GB', 'en', now(), '{}', $3)",
    )
    .bind(s.w.own)
    .bind(item.id)
    .bind(s.w.admin)
    .execute(scope.connection())
    .await
    .map_err(Error::from)
    .unwrap_err();
    assert_eq!(
        err.validation()
            .and_then(|v| v.get("version"))
            .map(|e| e.field.as_str()),
        Some("version"),
        "{err:?}"
    );
    drop(scope);
    let mut scope = s.w.scope(s.w.admin).await;
    assert!(matches!(
        scope
            .claims()
            .check(
                ContentId::new(),
                &ResolutionRequest::new(country("GB"), Utc::now())
            )
            .await,
        Err(Error::NotFound { entity: "content" })
    ));
}

#[tokio::test]
async fn checks_concurrent_with_a_save_are_recorded_for_the_version_they_read_or_refused_as_stale()
{
    let s = shop().await;
    let item = s.item(EN_TITLE, EN_BODY, None).await.id;
    let db = s.w.db.database().clone();
    let (admin, brand) = (
        mixerai_data::types::UserId::from_uuid(s.w.admin),
        mixerai_data::types::BrandId::from_uuid(s.w.own),
    );
    // Eight checks and one save at once, each in a scope of its own.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut scope = db.scope(admin, brand).await.unwrap();
            let r = scope
                .claims()
                .check(item, &ResolutionRequest::new(country("GB"), Utc::now()))
                .await;
            if r.is_ok() {
                scope.commit().await.unwrap();
            }
            r.map(|c| c.version)
        }));
    }
    let saver = {
        let db = db.clone();
        tokio::spawn(async move {
            let mut scope = db.scope(admin, brand).await.unwrap();
            scope
                .content()
                .update(
                    item,
                    1,
                    &ContentPatch::builder()
                        .title("Saved meanwhile")
                        .build()
                        .unwrap(),
                )
                .await
                .unwrap();
            scope.commit().await.unwrap();
        })
    };
    saver.await.unwrap();
    let (mut recorded_ok, mut refused) = (0_i64, 0_i64);
    for t in tasks {
        match t.await.unwrap() {
            Ok(version) => {
                assert!(version == 1 || version == 2);
                recorded_ok += 1;
            }
            Err(Error::Stale {
                entity: "content",
                expected: 1,
                actual: 2,
            }) => refused += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(recorded_ok + refused, 8);
    // Every recorded check names a version whose text it read.
    let recorded: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT version, count(*) FROM mixerai.compliance_checks WHERE content_id = $1 GROUP BY 1 ORDER BY 1",
    )
    .bind(item)
    .fetch_all(pool(&s.w.db))
    .await
    .unwrap();
    assert!(
        recorded.iter().all(|(v, _)| *v == 1 || *v == 2),
        "{recorded:?}"
    );
    // And exactly the checks that reported success were recorded.
    assert_eq!(recorded.iter().map(|(_, n)| n).sum::<i64>(), recorded_ok);
}

#[tokio::test]
async fn a_rule_change_an_edit_or_the_passing_of_time_lists_exactly_the_checks_it_made_stale() {
    let s = shop().await;
    let soon = Utc::now() + Duration::hours(1);
    let a = s.item(EN_TITLE, EN_BODY, Some(EN_TAGLINE)).await;
    let b = s.item(FR_TITLE, FR_BODY, None).await;
    let c = s.item("Porridge", "<p>Warm porridge.</p>", None).await;
    let d = s.item("Muesli", "<p>Crunchy muesli.</p>", None).await;
    // A GB claim that took effect after the time C is checked for (and before now).
    s.w.claim(
        s.w.own,
        json!({ "text": "Made in Britain", "countries": ["GB"], "effective_from": "2025-06-01T00:00:00Z" }),
    )
    .await;
    s.check(a.id, "GB", "en", soon).await;
    s.check(b.id, "FR", "fr", soon).await;
    s.check(c.id, "GB", "en", at(2025, 3, 1)).await;
    s.check(d.id, "GB", "en", soon).await;
    type Why = (ContentId, &'static str, bool, bool, bool);
    let reasons = |stale: Vec<StaleCheck>| -> Vec<Why> {
        let mut v: Vec<Why> = stale
            .iter()
            .map(|x| {
                let market: &'static str = if x.check.country == country("GB") {
                    "GB"
                } else {
                    "FR"
                };
                (
                    x.check.content_id,
                    market,
                    x.content_edited,
                    x.rules_edited,
                    x.rules_changed_over_time,
                )
            })
            .collect();
        v.sort_by_key(|w| w.0.as_uuid());
        v
    };
    let sorted = |mut v: Vec<Why>| {
        v.sort_by_key(|w| w.0.as_uuid());
        v
    };
    // Only C: a claim took effect since the time it was checked for.
    assert_eq!(reasons(s.stale().await), [(c.id, "GB", false, false, true)]);

    // A change that is not a rule (the notes of a GB claim) makes nothing stale.
    let mut scope = s.w.scope(s.w.admin).await;
    let balanced = scope
        .claims()
        .get(ClaimId::from_uuid(s.balanced_gb))
        .await
        .unwrap();
    scope
        .claims()
        .update(
            balanced.id,
            balanced.version,
            &ClaimPatch::builder().notes("Reviewed").build().unwrap(),
        )
        .await
        .unwrap();
    scope.commit().await.unwrap();
    assert_eq!(reasons(s.stale().await), [(c.id, "GB", false, false, true)]);

    // A new FR claim makes the FR check stale, not the GB ones.
    let mut scope = s.w.scope(s.w.admin).await;
    scope
        .claims()
        .create(
            &NewClaim::builder()
                .claim_type(ClaimType::Product)
                .level(ClaimLevel::Brand)
                .status(ClaimStatus::Disallowed)
                .text("Meilleur du marché")
                .country("FR")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    scope.commit().await.unwrap();
    assert_eq!(
        reasons(s.stale().await),
        sorted(vec![
            (b.id, "FR", false, true, false),
            (c.id, "GB", false, false, true)
        ])
    );

    // Saving A makes its check stale (it is of a version since replaced).
    let mut scope = s.w.scope(s.w.admin).await;
    scope
        .content()
        .update(
            a.id,
            a.version,
            &ContentPatch::builder()
                .title("Golden Oat Crunch")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    scope.commit().await.unwrap();
    assert_eq!(
        reasons(s.stale().await),
        sorted(vec![
            (a.id, "GB", true, false, false),
            (b.id, "FR", false, true, false),
            (c.id, "GB", false, false, true),
        ])
    );

    // The regulator expires one of its claims for every market (an edit in another tenant): every
    // check is stale, D too.
    sqlx::query("UPDATE mixerai.claims SET effective_to = now() + interval '1 day' WHERE id = $1")
        .bind(s.prevents)
        .execute(pool(&s.w.db))
        .await
        .unwrap();
    assert_eq!(
        reasons(s.stale().await),
        sorted(vec![
            (a.id, "GB", true, true, false),
            (b.id, "FR", false, true, false),
            (c.id, "GB", false, true, true),
            (d.id, "GB", false, true, false),
        ])
    );

    // Re-checked, B and D leave the list; the listing pages newest check first.
    s.check(b.id, "FR", "fr", soon).await;
    s.check(d.id, "GB", "en", soon).await;
    assert_eq!(
        reasons(s.stale().await),
        sorted(vec![
            (a.id, "GB", true, true, false),
            (c.id, "GB", false, true, true)
        ])
    );
    let mut scope = s.w.scope(s.w.viewer).await;
    let first = scope
        .claims()
        .stale_checks(&PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 1);
    let second = scope
        .claims()
        .stale_checks(&PageRequest::first(1).after(first.next.unwrap()))
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert!(second.next.is_none());
    assert!(first.items[0].check.checked_at >= second.items[0].check.checked_at);
    assert_ne!(first.items[0].check.id, second.items[0].check.id);
}

#[tokio::test]
async fn the_gate_blocks_a_gated_stage_for_blocking_missing_or_stale_checks_and_says_why() {
    let s = shop().await;
    let now = Utc::now();
    let item = s.item(EN_TITLE, EN_BODY, Some(EN_TAGLINE)).await;
    let checked = s.check(item.id, "GB", "en", now).await;
    let id = item.id;
    let gate = |version: i32, stage: GateStage, when: DateTime<Utc>| {
        let w = &s.w;
        async move {
            let mut scope = w.scope(w.viewer).await;
            scope
                .claims()
                .gate(
                    &GateRequest::new(id, version, stage, when)
                        .market(country("GB"))
                        .market(country("FR")),
                )
                .await
                .unwrap()
        }
    };
    let verdicts =
        |d: &mixerai_data::claims::GateDecision| -> Vec<(String, GateVerdict, i32, bool)> {
            d.markets
                .iter()
                .map(|m| {
                    (
                        m.country.to_string(),
                        m.verdict,
                        m.blocking_findings,
                        m.blocks,
                    )
                })
                .collect()
        };

    // No settings: nothing is gated, but the verdicts are reported.
    let d = gate(1, GateStage::Publishing, now).await;
    assert!(!d.blocks);
    assert_eq!(
        verdicts(&d),
        [
            ("FR".to_owned(), GateVerdict::NotChecked, 0, false),
            ("GB".to_owned(), GateVerdict::BlockingFindings, 3, false),
        ]
    );
    assert_eq!(d.markets[1].check_id, Some(checked.id));

    // The brand gates publishing: publishing is blocked in both markets, approval is not gated.
    let mut scope = s.w.scope(s.w.admin).await;
    let settings = scope
        .claims()
        .create_compliance_settings(
            &NewComplianceSettings::builder()
                .gate_publishing(true)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    scope.commit().await.unwrap();
    assert_eq!(
        (
            settings.gate_approval,
            settings.gate_publishing,
            settings.version
        ),
        (false, true, 1)
    );
    let d = gate(1, GateStage::Publishing, now).await;
    assert!(d.blocks);
    assert_eq!(d.blocking().count(), 2);
    assert!(!gate(1, GateStage::Approval, now).await.blocks);

    // A compliant version 2, checked in both markets: clear.
    let mut scope = s.w.scope(s.w.admin).await;
    let fixed = scope
        .content()
        .update(
            item.id,
            1,
            &ContentPatch::builder()
                .title("Golden Oat Crunch")
                .body(
                    "<p>Enjoy as part of a varied and balanced diet and a healthy lifestyle.</p>
                       <p>À consommer dans le cadre d'une alimentation variée et équilibrée.</p>",
                )
                .field("tagline", json!("Just a good breakfast."))
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    scope.commit().await.unwrap();
    let d = gate(fixed.version, GateStage::Publishing, now).await;
    assert_eq!(
        verdicts(&d),
        [
            ("FR".to_owned(), GateVerdict::NotChecked, 0, true),
            ("GB".to_owned(), GateVerdict::NotChecked, 0, true),
        ]
    );
    let gb = s.check(item.id, "GB", "en", now).await;
    let fr = s.check(item.id, "FR", "fr", now).await;
    assert!(
        gb.is_clear() && fr.is_clear(),
        "{:#?} {:#?}",
        gb.findings,
        fr.findings
    );
    let d = gate(fixed.version, GateStage::Publishing, now).await;
    assert!(!d.blocks, "{d:?}");
    assert!(d.markets.iter().all(|m| m.verdict == GateVerdict::Clear));
    // Version 1 keeps its own, blocking, check.
    assert_eq!(
        gate(1, GateStage::Publishing, now).await.markets[1].verdict,
        GateVerdict::BlockingFindings
    );

    // A rule edited since the check (the fibre claim, of every market, becomes disallowed) blocks until
    // the version is re-checked.
    let mut scope = s.w.scope(s.w.admin).await;
    let fibre = scope
        .claims()
        .get(ClaimId::from_uuid(s.fibre))
        .await
        .unwrap();
    scope
        .claims()
        .update(
            fibre.id,
            fibre.version,
            &ClaimPatch::builder()
                .status(ClaimStatus::Disallowed)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    scope.commit().await.unwrap();
    let d = gate(fixed.version, GateStage::Publishing, now).await;
    assert_eq!(
        verdicts(&d),
        [
            ("FR".to_owned(), GateVerdict::RulesEdited, 0, true),
            ("GB".to_owned(), GateVerdict::RulesEdited, 0, true),
        ]
    );
    s.check(item.id, "GB", "en", now).await;
    s.check(item.id, "FR", "fr", now).await;
    assert!(!gate(fixed.version, GateStage::Publishing, now).await.blocks);

    // A GB claim that takes effect next month: the checks made for now do not hold for a
    // publication after it, only for one before.
    let next_month = now + Duration::days(30);
    s.w.claim(
        s.w.own,
        json!({ "text": "Now with more oats", "countries": ["GB"], "effective_from": next_month }),
    )
    .await;
    s.check(item.id, "GB", "en", now).await;
    s.check(item.id, "FR", "fr", now).await;
    assert!(
        !gate(
            fixed.version,
            GateStage::Publishing,
            now + Duration::days(29)
        )
        .await
        .blocks
    );
    let later = gate(
        fixed.version,
        GateStage::Publishing,
        next_month + Duration::days(1),
    )
    .await;
    assert_eq!(
        verdicts(&later),
        [
            ("FR".to_owned(), GateVerdict::Clear, 0, false),
            ("GB".to_owned(), GateVerdict::RulesChangedOverTime, 0, true),
        ]
    );

    // A guardrail finding advises by default; once the brand makes guardrails block, the same check
    // blocks, with no re-check: the gate reads the settings as they are.
    let mut scope = s.w.scope(s.w.admin).await;
    let v3 = scope
        .content()
        .update(
            item.id,
            fixed.version,
            &ContentPatch::builder()
                .excerpt("A superfood breakfast.")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    scope.commit().await.unwrap();
    let gb = s.check(item.id, "GB", "en", now).await;
    s.check(item.id, "FR", "fr", now).await;
    assert_eq!(
        gb.findings
            .iter()
            .map(|f| (f.kind, f.blocking))
            .collect::<Vec<_>>(),
        [(FindingKind::GuardrailViolated, false)]
    );
    assert!(!gate(v3.version, GateStage::Publishing, now).await.blocks);
    let mut scope = s.w.scope(s.w.admin).await;
    let settings = scope
        .claims()
        .update_compliance_settings(
            settings.version,
            &ComplianceSettingsPatch::builder()
                .blocking_kinds([FindingKind::DisallowedClaim, FindingKind::GuardrailViolated])
                .gate_approval(true)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    scope.commit().await.unwrap();
    assert_eq!(settings.version, 2);
    let d = gate(v3.version, GateStage::Approval, now).await;
    assert!(d.blocks);
    assert_eq!(
        verdicts(&d),
        [
            ("FR".to_owned(), GateVerdict::BlockingFindings, 1, true),
            ("GB".to_owned(), GateVerdict::BlockingFindings, 1, true),
        ]
    );

    // The same answer from SQL, as the lifecycle will ask it, in a system scope (no tenant context).
    let rows: Vec<(String, String, Option<Uuid>, i32, bool)> = sqlx::query_as(
        "SELECT country, verdict, check_id, blocking_findings, blocks
         FROM mixerai.compliance_gate($1, $2, ARRAY['GB', 'FR', 'GB'], 'approval', $3)",
    )
    .bind(item.id)
    .bind(v3.version)
    .bind(now)
    .fetch_all(pool(&s.w.db))
    .await
    .unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| (r.0.as_str(), r.1.as_str(), r.3, r.4))
            .collect::<Vec<_>>(),
        [
            ("FR", "blocking_findings", 1, true),
            ("GB", "blocking_findings", 1, true)
        ]
    );

    // Stale settings writes, a missing market list and an unknown item are refused.
    let mut scope = s.w.scope(s.w.admin).await;
    let err = scope
        .claims()
        .update_compliance_settings(
            1,
            &ComplianceSettingsPatch::builder()
                .gate_publishing(false)
                .build()
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let err = scope
        .claims()
        .create_compliance_settings(&NewComplianceSettings::builder().build().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { field: Some(f), .. } if f == "brand_id"),
        "{err:?}"
    );
    drop(scope);
    let mut scope = s.w.scope(s.w.viewer).await;
    let err = scope
        .claims()
        .gate(&GateRequest::new(item.id, 1, GateStage::Publishing, now))
        .await
        .unwrap_err();
    assert!(
        err.validation().and_then(|v| v.get("markets")).is_some(),
        "{err:?}"
    );
    let err = scope
        .claims()
        .gate(
            &GateRequest::new(ContentId::new(), 1, GateStage::Publishing, now)
                .market(country("GB")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound { entity: "content" }),
        "{err:?}"
    );
    let err = scope
        .claims()
        .update_compliance_settings(
            2,
            &ComplianceSettingsPatch::builder()
                .gate_publishing(false)
                .build()
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    assert_eq!(
        scope.claims().compliance_settings().await.unwrap(),
        settings
    );
}

#[tokio::test]
async fn a_check_stands_through_status_changes_and_a_save_makes_it_stale() {
    let s = shop().await;
    let when = Utc::now();
    let item = s.item(FIXED_TITLE, FIXED_BODY, None).await;
    let check = s.check(item.id, "GB", "en", when).await;
    assert_eq!((check.version, item.latest_version), (1, 1));

    // Submitting, reviewing and approving move the row's token, not the content version: the check
    // still describes the item, and it is the check of the version approved.
    let approved = s.approved(item.id).await;
    assert!(approved.version > item.version);
    assert_eq!(approved.latest_version, 1);
    assert_eq!(approved.approved_version, Some(1));
    assert!(s.stale().await.is_empty(), "{:?}", s.stale().await);
    let mut scope = s.w.scope(s.w.viewer).await;
    let d = scope
        .claims()
        .gate(&GateRequest::new(item.id, 1, GateStage::Publishing, when).market(country("GB")))
        .await
        .unwrap();
    assert_eq!(
        (d.markets[0].verdict, d.markets[0].check_id),
        (GateVerdict::Clear, Some(check.id))
    );
    drop(scope);
    // An approved item is checked at its content version too, whatever its token.
    let again = s.check(item.id, "GB", "en", when).await;
    assert_eq!(again.version, 1);

    // A save is a new content version: the check is stale, and the listing says so.
    let mut scope = s.w.scope(s.w.admin).await;
    let saved = scope
        .content()
        .update(
            item.id,
            approved.version,
            &ContentPatch::builder()
                .title("Porridge oats")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    scope.commit().await.unwrap();
    let stale = s.stale().await;
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert_eq!(
        (
            stale[0].check.id,
            stale[0].check.version,
            stale[0].current_version,
            stale[0].content_edited,
            stale[0].rules_edited
        ),
        (again.id, 1, saved.latest_version, true, false)
    );
    assert_eq!(saved.latest_version, saved.version);
}

/// The gate's refusal, as the lifecycle reports it: the stage and the blocking markets.
fn blocked(stage: GateStage, markets: &[&str]) -> impl Fn(&Error) -> bool {
    let markets: Vec<_> = markets.iter().map(|m| country(m)).collect();
    move |err| matches!(err, Error::ComplianceBlocked { stage: s, markets: m } if *s == stage && *m == markets)
}

#[tokio::test]
async fn a_gated_approval_is_refused_with_blocking_findings_and_passes_once_fixed_and_rechecked() {
    let s = shop().await;
    s.settings(NewComplianceSettings::builder().gate_approval(true))
        .await;
    let item = s.item(EN_TITLE, EN_BODY, Some(EN_TAGLINE)).await;
    let check = s.check(item.id, "GB", "en", Utc::now()).await;
    assert!(!check.is_clear());
    let in_review = s.in_review(item.id).await;

    // Blocking findings in GB (the brand's country, no markets listed): refused, nothing written.
    let err = s.approve(item.id).await.unwrap_err();
    assert!(blocked(GateStage::Approval, &["GB"])(&err), "{err:?}");
    assert_eq!(err.to_string(), "the compliance gate blocks approval in GB");
    let (now, approvals, _) = s.read(item.id).await;
    assert_eq!(
        (now.status, now.version, now.approved_version, approvals),
        (ContentStatus::InReview, in_review.version, None, 0)
    );

    // The text fixed: a new version, not checked yet, so still refused (the gate's "not checked").
    let mut scope = s.w.scope(s.w.admin).await;
    let fixed = scope
        .content()
        .update(
            item.id,
            in_review.version,
            &ContentPatch::builder()
                .title(FIXED_TITLE)
                .body(FIXED_BODY)
                .field("tagline", json!("Just a good breakfast."))
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    scope.commit().await.unwrap();
    assert_eq!(fixed.status, ContentStatus::InReview);
    let err = s.approve(item.id).await.unwrap_err();
    assert!(blocked(GateStage::Approval, &["GB"])(&err), "{err:?}");

    // Re-checked: clear, and approved, the approval pinned to the version checked.
    let recheck = s.check(item.id, "GB", "en", Utc::now()).await;
    assert!(recheck.is_clear(), "{:#?}", recheck.findings);
    assert_eq!(recheck.version, fixed.latest_version);
    let approved = s.approve(item.id).await.unwrap();
    assert_eq!(approved.approved_version, Some(fixed.latest_version));
    assert_eq!(s.read(item.id).await.1, 1);
    // Publishing is not gated: it goes live although nothing was checked for its time.
    let live = s.publish(item.id).await.unwrap();
    assert_eq!(live.live_version, Some(fixed.latest_version));
}

#[tokio::test]
async fn target_markets_default_to_the_brands_country_and_a_market_without_a_check_blocks() {
    let s = shop().await;
    let settings = s
        .settings(NewComplianceSettings::builder().gate_approval(true))
        .await;
    assert!(settings.markets.is_empty());
    assert_eq!(settings.target_markets(country("GB")), [country("GB")]);

    // Checked and clear in FR only: the brand is British, so GB is the market, and it has no check.
    let item = s.item(FIXED_TITLE, FIXED_BODY, None).await;
    s.check(item.id, "FR", "fr", Utc::now()).await;
    s.in_review(item.id).await;
    let err = s.approve(item.id).await.unwrap_err();
    assert!(blocked(GateStage::Approval, &["GB"])(&err), "{err:?}");
    // The brand's country is read when the step is taken: a brand that moves to France passes.
    sqlx::query("UPDATE mixerai.brands SET country = 'FR' WHERE id = $1")
        .bind(s.w.own)
        .execute(pool(&s.w.db))
        .await
        .unwrap();
    s.approve(item.id).await.unwrap();

    // Listed markets replace the brand's country: GB and FR (FR is the brand's now), GB unchecked.
    let mut scope = s.w.scope(s.w.admin).await;
    let settings = scope
        .claims()
        .update_compliance_settings(
            settings.version,
            &ComplianceSettingsPatch::builder()
                .market("gb")
                .market("FR")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    scope.commit().await.unwrap();
    assert_eq!(settings.markets, [country("GB"), country("FR")]);
    assert_eq!(
        settings.target_markets(country("FR")),
        [country("GB"), country("FR")]
    );
    let other = s.item(FIXED_TITLE, FIXED_BODY, None).await;
    s.check(other.id, "FR", "fr", Utc::now()).await;
    s.in_review(other.id).await;
    let err = s.approve(other.id).await.unwrap_err();
    assert!(blocked(GateStage::Approval, &["GB"])(&err), "{err:?}");
    s.check(other.id, "GB", "en", Utc::now()).await;
    s.approve(other.id).await.unwrap();

    // Markets are checked by the builder and by the database.
    let err = ComplianceSettingsPatch::builder()
        .markets(["GB", "gb", "Britain"])
        .build()
        .unwrap_err();
    assert_eq!(err.get("markets[1]").unwrap().reason, "is listed twice");
    assert!(err.get("markets[2]").is_some(), "{err:?}");
    let mut scope = s.w.scope(s.w.admin).await;
    let err = sqlx::query("UPDATE mixerai.compliance_settings SET markets = '{GB,uk}'")
        .execute(scope.connection())
        .await
        .map_err(Error::from)
        .unwrap_err();
    assert!(
        err.validation().and_then(|v| v.get("markets")).is_some(),
        "{err:?}"
    );
}

#[tokio::test]
async fn gated_publishing_refuses_publishing_and_scheduling_at_the_time_they_are_for() {
    let s = shop().await;
    s.settings(NewComplianceSettings::builder().gate_publishing(true))
        .await;

    // Blocking findings: approval is not gated, publishing and scheduling are refused.
    let bad = s.item(EN_TITLE, EN_BODY, Some(EN_TAGLINE)).await;
    s.check(bad.id, "GB", "en", Utc::now()).await;
    let approved = s.approved(bad.id).await;
    let err = s.publish(bad.id).await.unwrap_err();
    assert!(blocked(GateStage::Publishing, &["GB"])(&err), "{err:?}");
    let err = s
        .schedule(bad.id, Utc::now() + Duration::hours(1))
        .await
        .unwrap_err();
    assert!(blocked(GateStage::Publishing, &["GB"])(&err), "{err:?}");
    let (now, _, live) = s.read(bad.id).await;
    assert_eq!(
        (now.status, now.version, now.scheduled_version, live),
        (ContentStatus::Approved, approved.version, None, None)
    );
    // Raw SQL in the scope is gated the same way.
    let mut scope = s.w.scope(s.w.admin).await;
    let err = sqlx::query("UPDATE mixerai.content SET status = 'published' WHERE id = $1")
        .bind(bad.id)
        .execute(scope.connection())
        .await
        .map_err(Error::from)
        .unwrap_err();
    assert!(blocked(GateStage::Publishing, &["GB"])(&err), "{err:?}");
    drop(scope);

    // A clean version checked for now, with a GB claim taking effect in two days: scheduled for
    // tomorrow it passes; moved past the claim's start, the check no longer holds for its time.
    let two_days = Utc::now() + Duration::days(2);
    s.w.claim(
        s.w.own,
        json!({ "text": "Now with more oats", "countries": ["GB"], "effective_from": two_days }),
    )
    .await;
    let good = s.item(FIXED_TITLE, FIXED_BODY, None).await;
    s.check(good.id, "GB", "en", Utc::now()).await;
    s.approved(good.id).await;
    let tomorrow = Utc::now() + Duration::days(1);
    let scheduled = s.schedule(good.id, tomorrow).await.unwrap();
    assert_eq!(scheduled.status, ContentStatus::Scheduled);
    let err = s
        .reschedule(good.id, two_days + Duration::days(1))
        .await
        .unwrap_err();
    assert!(blocked(GateStage::Publishing, &["GB"])(&err), "{err:?}");
    assert_eq!(
        s.read(good.id).await.0.scheduled_for.map(truncate),
        Some(truncate(tomorrow))
    );
    // Published now instead: clear for now.
    let live = s.publish(good.id).await.unwrap();
    assert_eq!(
        (live.status, live.live_version),
        (ContentStatus::Published, Some(1))
    );
}

#[tokio::test]
async fn the_job_records_a_publication_the_gate_refuses_and_publishes_the_other_items() {
    let s = shop().await;
    let settings = s.settings(NewComplianceSettings::builder()).await;
    // Three clean items scheduled five minutes ago, while publishing is not gated; two checked.
    let mut ids = Vec::new();
    for checked in [true, false, true] {
        let item = s.item(FIXED_TITLE, FIXED_BODY, None).await;
        if checked {
            s.check(item.id, "GB", "en", Utc::now()).await;
        }
        s.approved(item.id).await;
        s.schedule(item.id, Utc::now() - Duration::minutes(5))
            .await
            .unwrap();
        ids.push(item.id);
    }
    // Then the brand gates publishing.
    let mut scope = s.w.scope(s.w.admin).await;
    scope
        .claims()
        .update_compliance_settings(
            settings.version,
            &ComplianceSettingsPatch::builder()
                .gate_publishing(true)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    scope.commit().await.unwrap();

    let report = publish_due(s.w.db.database(), Utc::now(), 10, |_| {})
        .await
        .unwrap();
    let mut published: Vec<ContentId> = report.published.iter().map(|p| p.content_id).collect();
    published.sort_by_key(|id| id.as_uuid());
    let mut expected = vec![ids[0], ids[2]];
    expected.sort_by_key(|id| id.as_uuid());
    assert_eq!(published, expected, "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(
        (report.failed[0].content_id, report.failed[0].action),
        (ids[1], JobAction::Publish)
    );
    assert!(
        report.failed[0].error.contains("compliance gate"),
        "{}",
        report.failed[0].error
    );
    let mut scope = s.w.scope(s.w.viewer).await;
    let (attempts, error): (i64, String) = sqlx::query_as(
        "SELECT attempts, last_error FROM mixerai.content_publish_failures WHERE content_id = $1",
    )
    .bind(ids[1])
    .fetch_one(scope.connection())
    .await
    .unwrap();
    assert_eq!(attempts, 1);
    assert!(error.contains("GB"), "{error}");
    drop(scope);
    let (refused, _, live) = s.read(ids[1]).await;
    assert_eq!(
        (refused.status, refused.scheduled_version, live),
        (ContentStatus::Scheduled, Some(1), None)
    );

    // Checked, it goes out on the next run.
    s.check(ids[1], "GB", "en", Utc::now()).await;
    let report = publish_due(s.w.db.database(), Utc::now(), 10, |_| {})
        .await
        .unwrap();
    assert_eq!(
        (report.published.len(), report.failed.len()),
        (1, 0),
        "{report:?}"
    );
    assert_eq!(s.read(ids[1]).await.2, Some(1));
}

#[tokio::test]
async fn an_ungated_brand_approves_schedules_and_publishes_as_before() {
    let s = shop().await;
    // No settings at all: blocking findings and no check at all pass.
    let bad = s.item(EN_TITLE, EN_BODY, Some(EN_TAGLINE)).await;
    s.check(bad.id, "GB", "en", Utc::now()).await;
    s.approved(bad.id).await;
    assert_eq!(s.publish(bad.id).await.unwrap().live_version, Some(1));
    let unchecked = s.item(EN_TITLE, EN_BODY, None).await;
    s.approved(unchecked.id).await;
    s.schedule(unchecked.id, Utc::now() - Duration::minutes(1))
        .await
        .unwrap();
    let report = publish_due(s.w.db.database(), Utc::now(), 10, |_| {})
        .await
        .unwrap();
    assert_eq!(
        (report.published.len(), report.failed.len()),
        (1, 0),
        "{report:?}"
    );

    // Settings that gate nothing (markets listed, both stages off): the same.
    s.settings(
        NewComplianceSettings::builder()
            .markets(["GB", "FR"])
            .blocking_kind(FindingKind::GuardrailViolated),
    )
    .await;
    let other = s.item(EN_TITLE, EN_BODY, None).await;
    s.approved(other.id).await;
    assert_eq!(
        s.publish(other.id).await.unwrap().status,
        ContentStatus::Published
    );
}
