//! A brand's content library: a template, content created from it (validated against it), a batch
//! imported in one statement, then searched by relevance and paged through with filters.
//!
//! ```text
//! cargo run --example content_library                    # starts a throwaway PostgreSQL of its own
//! DATABASE_URL=postgres://... cargo run --example content_library   # uses that database
//! ```

use mixerai_data::brands::{BrandRole, NewBrand, NewMembership};
use mixerai_data::content::{ContentFilter, NewContent};
use mixerai_data::templates::{FieldType, FieldValidation, NewTemplate, TemplateField};
use mixerai_data::users::NewUser;
use mixerai_data::{PageRequest, Result};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<()> {
    let (db, throwaway) = mixerai_data::test_support::database_from_env_or_throwaway().await?;
    if let Some(t) = &throwaway {
        println!("started a throwaway PostgreSQL, database {}", t.name());
    }
    db.migrate().await?;

    // Set-up: an editor and her brand.
    let mut system = db.system_scope().await?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let grace = system
        .users()
        .create(
            &NewUser::builder()
                .email(format!("grace+{run}@example.com"))
                .first_name("Grace")
                .last_name("Hopper")
                .build()?,
        )
        .await?;
    let brand = system
        .brands()
        .create(
            &NewBrand::builder()
                .name(format!("Compiler Kitchen {}", &run[..8]))
                .country("US")
                .language("en")
                .build()?,
            grace.id,
        )
        .await?;
    system
        .brands()
        .grant(
            brand.id,
            grace.id,
            &NewMembership::builder().role(BrandRole::Editor).build()?,
        )
        .await?;
    system.commit().await?;

    // Everything else is tenant work, inside one scope: Grace in her brand.
    let mut scope = db.scope(grace.id, brand.id).await?;

    // A recipe template: what every recipe's fields must look like.
    let template = scope
        .templates()
        .create(
            &NewTemplate::builder()
                .name("Recipe")
                .content_type("recipe")
                .field(TemplateField {
                    required: true,
                    validation: Some(FieldValidation {
                        min: Some(1.0),
                        max: Some(240.0),
                        ..FieldValidation::default()
                    }),
                    ..TemplateField::new("minutes", "Cooking time (minutes)", FieldType::Number)
                })
                .field(TemplateField {
                    validation: Some(FieldValidation {
                        options: Some(vec![json!("easy"), json!("medium"), json!("hard")]),
                        ..FieldValidation::default()
                    }),
                    default_value: Some(json!("easy")),
                    ..TemplateField::new("difficulty", "Difficulty", FieldType::Select)
                })
                .build()?,
        )
        .await?;
    println!(
        "template {} ({} fields)",
        template.name,
        template.fields.len()
    );

    // Content from the template: the default fills `difficulty`, the template checks the rest.
    let recipes = [
        (
            "Lemon Drizzle Cake",
            45,
            "A bright lemon sponge soaked in sugar syrup.",
        ),
        ("Tomato Soup", 30, "Roasted tomatoes blended with basil."),
        ("Sourdough Loaf", 240, "A slow loaf with a crackling crust."),
    ];
    for (title, minutes, body) in recipes {
        let new = NewContent::builder()
            .content_type("recipe")
            .title(title)
            .body(format!("<p>{body}</p>"))
            .field("minutes", json!(minutes))
            .tag("baking")
            .build()?;
        scope
            .content()
            .create_from_template(template.id, &new)
            .await?;
    }

    // Fields the template refuses: every problem is reported together and nothing is written.
    let bad = NewContent::builder()
        .content_type("recipe")
        .title("Mystery Stew")
        .field("minutes", json!(600))
        .field("difficulty", json!("impossible"))
        .build()?;
    let err = scope
        .content()
        .create_from_template(template.id, &bad)
        .await
        .unwrap_err();
    println!("refused: {err}");

    // An archive imported in one statement.
    let archive: Vec<NewContent> = (1..=40)
        .map(|i| {
            NewContent::builder()
                .content_type("article")
                .title(format!("Kitchen Notes {i}"))
                .body(if i % 4 == 0 {
                    "<p>On lemon curd and other preserves.</p>"
                } else {
                    "<p>On knives, pans and timing.</p>"
                })
                .tag("archive")
                .build()
        })
        .collect::<std::result::Result<_, _>>()?;
    let imported = scope.content().create_many(&archive).await?;
    println!("imported {} archive items in one statement", imported.len());

    // Search: ranked by relevance, title matches first.
    for hit in scope.content().search("lemon", 5).await? {
        println!(
            "  search 'lemon': {:<22} rank {:.3}",
            hit.content.title, hit.rank
        );
    }

    // Page through the archive, 15 at a time, newest first.
    let filter = ContentFilter {
        tag: Some("archive".into()),
        ..ContentFilter::default()
    };
    let mut request = PageRequest::first(15);
    let mut pages = 0;
    loop {
        let page = scope.content().list(&filter, &request).await?;
        pages += 1;
        println!("  page {pages}: {} items", page.items.len());
        match page.next {
            Some(cursor) => request = request.after(cursor),
            None => break,
        }
    }
    scope.commit().await?;
    Ok(())
}
