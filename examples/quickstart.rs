//! The main job: migrate, create a user, a brand, the user's role and a piece of content, read them back.
//!
//! ```text
//! cargo run --example quickstart                    # starts a throwaway PostgreSQL of its own
//! DATABASE_URL=postgres://... cargo run --example quickstart   # uses that database
//! ```

use mixerai_data::brands::{BrandRole, ColorsInput, MemberFilter, NewBrand, NewMembership};
use mixerai_data::content::NewContent;
use mixerai_data::users::NewUser;
use mixerai_data::{PageRequest, Result};

#[tokio::main]
async fn main() -> Result<()> {
    // With DATABASE_URL, that database; otherwise a throwaway server started from the installed
    // PostgreSQL binaries, with a fresh database (deleted when this process exits).
    let (db, throwaway) = mixerai_data::test_support::database_from_env_or_throwaway().await?;
    if let Some(t) = &throwaway {
        println!("started a throwaway PostgreSQL, database {}", t.name());
    }
    db.migrate().await?;
    println!("migrated");

    // Set-up work belongs to no brand: a system scope.
    let mut system = db.system_scope().await?;
    let email = format!("ada+{}@example.com", uuid::Uuid::new_v4().simple());
    let ada = system
        .users()
        .create(
            &NewUser::builder()
                .email(&email)
                .first_name("Ada")
                .last_name("Lovelace")
                .build()?,
        )
        .await?;
    let new_brand = NewBrand::builder()
        .name(format!("Analytical Engines {}", &ada.id.to_string()[..8]))
        .country("GB")
        .language("en")
        .currency("GBP")
        .colors(ColorsInput::new("#1d3557").secondary("#457b9d"))
        .build()?;
    let brand = system.brands().create(&new_brand, ada.id).await?;
    system
        .brands()
        .grant(
            brand.id,
            ada.id,
            &NewMembership::builder().role(BrandRole::Editor).build()?,
        )
        .await?;
    system.commit().await?;
    println!(
        "created user {} <{}>, brand {} ({}), role editor",
        ada.id, ada.email, brand.name, brand.slug
    );

    // Tenant work: a scope acting as Ada inside her brand; PostgreSQL enforces what she may see and do.
    let mut scope = db.scope(ada.id, brand.id).await?;
    let note = NewContent::builder()
        .content_type("article")
        .title("Notes on the Analytical Engine")
        .body("<p>The engine weaves algebraic patterns.</p>")
        .field("audience", serde_json::json!("engineers"))
        .tag("history")
        .build()?;
    let created = scope.content().create(&note).await?;
    scope.commit().await?;

    let mut scope = db.scope(ada.id, brand.id).await?;
    let read = scope.content().get(created.id).await?;
    let me = scope.users().me().await?;
    let members = scope
        .brands()
        .members(brand.id, &MemberFilter::default(), &PageRequest::default())
        .await?
        .items;
    drop(scope); // read-only: dropping rolls back

    println!(
        "read back content {} \"{}\" (/{}), status {:?}, version {}, by {} {}",
        read.id, read.title, read.slug, read.status, read.version, me.first_name, me.last_name
    );
    println!(
        "brand {} has {} member(s): {:?}",
        brand.name,
        members.len(),
        members.iter().map(|m| m.role).collect::<Vec<_>>()
    );
    Ok(())
}
