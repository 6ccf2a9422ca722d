//! A product page checked for GB and FR: a regulator's register and the brand's own claims, the page
//! in English and in French, the findings printed with their positions, then the publishing gate.
//!
//! ```text
//! cargo run --example claims_check                    # starts a throwaway PostgreSQL of its own
//! DATABASE_URL=postgres://... cargo run --example claims_check   # uses that database
//! ```

use chrono::{Duration, Utc};
use mixerai_data::Result;
use mixerai_data::brands::{BrandPatch, BrandRole, NewBrand, NewMembership};
use mixerai_data::claims::{
    ClaimLevel, ClaimStatus, ClaimType, ComplianceCheck, GateRequest, GateStage, NewClaim,
    NewClaimBuilder, NewComplianceSettings, ResolutionRequest,
};
use mixerai_data::content::NewContent;
use mixerai_data::types::{CountryCode, LanguageCode};
use mixerai_data::users::NewUser;

const EN_BODY: &str = "<h2>Why you&rsquo;ll love it</h2>
<p>Golden Oat Crunch is made with wholegrain oats that are <strong>High in
Fibre</strong>, baked slowly with a touch of honey.</p>
<p>Oat beta-glucan contributes to the maintenance of normal blood
cholesterol levels.</p>
<p>Some say a bowl a day PREVENTS heart
disease; we simply say it tastes great.</p>
<p>It&rsquo;s the Superfood your mornings deserve.</p>";

const FR_BODY: &str =
    "<p>Des flocons d’avoine complète, cuits lentement, <em>sans additifs</em>.</p>
<p>Les bêta-glucanes d’avoine contribuent au maintien d’une
cholestérolémie normale.</p>
<p>Un bol par jour PRÉVIENT les maladies cardiaques ? Nous disons plutôt qu’il est délicieux.</p>
<p>A consommer dans le cadre d'une alimentation variee et equilibree.</p>";

fn claim(status: ClaimStatus, original: &str) -> NewClaimBuilder {
    NewClaim::builder()
        .claim_type(ClaimType::Product)
        .level(ClaimLevel::Brand)
        .status(status)
        .text(original)
        .effective_from(Utc::now() - Duration::days(365))
}

fn print(label: &str, check: &ComplianceCheck) {
    println!(
        "\n{label}: {} findings ({} blocking), version {} checked for {}",
        check.findings.len(),
        check.blocking().count(),
        check.version,
        check.checked_for.format("%Y-%m-%d")
    );
    for f in &check.findings {
        let place = match &f.location {
            Some(l) => format!(
                "{}:{}:{} bytes {}..{} {:?}",
                l.field, l.line, l.column, l.start, l.end, l.text
            ),
            None => "(missing)".to_owned(),
        };
        let rule = f.rule.map(|r| format!(" by {r}")).unwrap_or_default();
        let suggestion = f
            .suggestion
            .as_deref()
            .map(|s| format!("; use {s:?} ({})", f.reason.as_deref().unwrap_or("")))
            .unwrap_or_default();
        println!(
            "  {}{} {place}: {:?}{rule}{suggestion}",
            f.kind,
            if f.blocking { " [blocks]" } else { "" },
            f.wording
        );
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let (db, throwaway) = mixerai_data::test_support::database_from_env_or_throwaway().await?;
    if let Some(t) = &throwaway {
        println!("started a throwaway PostgreSQL, database {}", t.name());
    }
    db.migrate().await?;

    // Set-up: a legal admin, the brand, and the register of health claims it takes claims from.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut system = db.system_scope().await?;
    let lin = system
        .users()
        .create(
            &NewUser::builder()
                .email(format!("lin+{run}@example.com"))
                .first_name("Lin")
                .last_name("Okafor")
                .build()?,
        )
        .await?;
    let register = system
        .brands()
        .create(
            &NewBrand::builder()
                .name(format!("Health Claims Register {}", &run[..8]))
                .country("GB")
                .language("en")
                .build()?,
            lin.id,
        )
        .await?;
    let brand = system
        .brands()
        .create(
            &NewBrand::builder()
                .name(format!("Golden Oats {}", &run[..8]))
                .country("GB")
                .language("en")
                .build()?,
            lin.id,
        )
        .await?;
    for b in [register.id, brand.id] {
        system
            .brands()
            .grant(
                b,
                lin.id,
                &NewMembership::builder().role(BrandRole::Admin).build()?,
            )
            .await?;
    }
    let brand = system
        .brands()
        .update(
            brand.id,
            brand.version,
            &BrandPatch::builder()
                .master_claim_brand_id(register.id)
                .guardrail("Never call a product a \"superfood\"")
                .build()?,
        )
        .await?;
    system.commit().await?;

    // The register: a disallowed health claim, an authorised one, a rule for France only.
    let mut scope = db.scope(lin.id, register.id).await?;
    for new in [
        claim(ClaimStatus::Disallowed, "Prevents heart disease")
            .translation("fr", "Prévient les maladies cardiaques"),
        claim(
            ClaimStatus::Allowed,
            "Oat beta-glucan contributes to the maintenance of normal blood cholesterol levels",
        )
        .translation(
            "fr",
            "Les bêta-glucanes d'avoine contribuent au maintien d'une cholestérolémie normale",
        ),
        claim(ClaimStatus::Disallowed, "No additives")
            .translation("fr", "Sans additifs")
            .country("FR"),
    ] {
        scope.claims().create(&new.build()?).await?;
    }
    scope.commit().await?;

    // The brand's own: a nutrition claim with a French replacement, a statement each market requires;
    // and it gates publishing.
    let mut scope = db.scope(lin.id, brand.id).await?;
    for new in [
        claim(ClaimStatus::Allowed, "High in fibre")
            .translation("fr", "Riche en fibres")
            .replacement((
                "FR",
                "Source de fibres",
                "The French recipe has 4 g of fibre per 100 g",
            )),
        claim(
            ClaimStatus::Mandatory,
            "Enjoy as part of a varied and balanced diet and a healthy lifestyle",
        )
        .country("GB"),
        claim(
            ClaimStatus::Mandatory,
            "Enjoy as part of a varied and balanced diet",
        )
        .translation(
            "fr",
            "À consommer dans le cadre d'une alimentation variée et équilibrée",
        )
        .country("FR"),
    ] {
        scope.claims().create(&new.build()?).await?;
    }
    scope
        .claims()
        .create_compliance_settings(
            &NewComplianceSettings::builder()
                .gate_publishing(true)
                .build()?,
        )
        .await?;

    // The product page, in English for GB and in French for FR, checked for the day it goes out.
    let publish_at = Utc::now() + Duration::days(7);
    let en = scope
        .content()
        .create(
            &NewContent::builder()
                .content_type("product")
                .title("Golden Oat Crunch: HIGH IN FIBRE breakfast oats")
                .body(EN_BODY)
                .build()?,
        )
        .await?;
    let fr = scope
        .content()
        .create(
            &NewContent::builder()
                .content_type("product")
                .title("Golden Oat Crunch : RICHE EN FIBRES")
                .body(FR_BODY)
                .build()?,
        )
        .await?;
    let gb = CountryCode::parse("GB")?;
    let france = CountryCode::parse("FR")?;
    let checked_gb = scope
        .claims()
        .check(
            en.id,
            &ResolutionRequest::new(gb, publish_at).language(LanguageCode::parse("en")?),
        )
        .await?;
    let checked_fr = scope
        .claims()
        .check(
            fr.id,
            &ResolutionRequest::new(france, publish_at).language(LanguageCode::parse("fr")?),
        )
        .await?;
    print("GB, the English page", &checked_gb);
    print("FR, the French page", &checked_fr);

    // The gate, as the lifecycle asks it before publishing each page in its market.
    for (label, item, market) in [
        ("English page in GB", &en, gb),
        ("French page in FR", &fr, france),
    ] {
        let decision = scope
            .claims()
            .gate(
                &GateRequest::new(item.id, item.version, GateStage::Publishing, publish_at)
                    .market(market),
            )
            .await?;
        let why: Vec<String> = decision
            .markets
            .iter()
            .map(|m| {
                format!(
                    "{}: {} ({} blocking)",
                    m.country, m.verdict, m.blocking_findings
                )
            })
            .collect();
        println!(
            "\npublishing the {label}: {} ({})",
            if decision.blocks {
                "blocked"
            } else {
                "allowed"
            },
            why.join(", ")
        );
    }
    scope.commit().await?;
    Ok(())
}
