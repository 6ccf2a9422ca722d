//! SQLSTATEs become typed errors; callers never parse message strings.

use crate::support::{fresh_db, insert_brand, insert_user, pool};
use mixerai_data::Error;

#[tokio::test]
async fn unique_violation_is_a_conflict_naming_the_constraint() {
    let db = fresh_db().await;
    insert_user(pool(&db), "dup@example.com").await;
    let err = sqlx::query(
        "INSERT INTO mixerai.users (email, first_name, last_name) VALUES ('DUP@example.com', 'D', 'Up')",
    )
    .execute(pool(&db))
    .await
    .map_err(Error::from)
    .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint, .. } if constraint == "users_email_normalized_key"),
        "{err:?}"
    );
}

#[tokio::test]
async fn foreign_key_violation_is_an_invalid_reference() {
    let db = fresh_db().await;
    let err = sqlx::query(
        "INSERT INTO mixerai.brands (name, slug, country, language, created_by) VALUES ('X', 'x', 'GB', 'en', gen_random_uuid())",
    )
    .execute(pool(&db))
    .await
    .map_err(Error::from)
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidReference { constraint, .. } if constraint == "brands_created_by_fkey"),
        "{err:?}"
    );
}

#[tokio::test]
async fn check_violation_is_invalid_naming_the_constraint() {
    let db = fresh_db().await;
    let user = insert_user(pool(&db), "chk@example.com").await;
    let err = sqlx::query("INSERT INTO mixerai.brands (name, slug, country, language, created_by) VALUES ('X', 'x', 'gb', 'en', $1)")
        .bind(user)
        .execute(pool(&db))
        .await
        .map_err(Error::from)
        .unwrap_err();
    assert_eq!(
        err.validation().expect("Invalid").errors()[0].field,
        "country"
    );
}

#[tokio::test]
async fn brand_hierarchy_cycle_is_refused_as_invalid() {
    let db = fresh_db().await;
    let p = pool(&db);
    let user = insert_user(p, "cycle@example.com").await;
    let a = insert_brand(p, "a", user).await;
    let b = insert_brand(p, "b", user).await;
    sqlx::query("UPDATE mixerai.brands SET parent_brand_id = $1 WHERE id = $2")
        .bind(a)
        .bind(b)
        .execute(p)
        .await
        .unwrap();
    let err = sqlx::query("UPDATE mixerai.brands SET parent_brand_id = $1 WHERE id = $2")
        .bind(b)
        .bind(a)
        .execute(p)
        .await
        .map_err(Error::from)
        .unwrap_err();
    assert_eq!(
        err.validation().expect("Invalid").errors()[0].field,
        "parent_brand_id"
    );
}

#[tokio::test]
async fn serialization_failure_is_retryable() {
    let db = fresh_db().await;
    let p = pool(&db);
    let user = insert_user(p, "ser@example.com").await;
    insert_brand(p, "ser", user).await;
    let mut t1 = p
        .begin_with("BEGIN ISOLATION LEVEL SERIALIZABLE")
        .await
        .unwrap();
    let mut t2 = p
        .begin_with("BEGIN ISOLATION LEVEL SERIALIZABLE")
        .await
        .unwrap();
    // Both read, then both write what the other read: a write skew only one may commit.
    let _: i64 = sqlx::query_scalar("SELECT count(*) FROM mixerai.brands")
        .fetch_one(&mut *t1)
        .await
        .unwrap();
    let _: i64 = sqlx::query_scalar("SELECT count(*) FROM mixerai.brands")
        .fetch_one(&mut *t2)
        .await
        .unwrap();
    sqlx::query("INSERT INTO mixerai.brands (name, slug, country, language, created_by) VALUES ('s1', 's1', 'GB', 'en', $1)")
        .bind(user)
        .execute(&mut *t1)
        .await
        .unwrap();
    sqlx::query("INSERT INTO mixerai.brands (name, slug, country, language, created_by) VALUES ('s2', 's2', 'GB', 'en', $1)")
        .bind(user)
        .execute(&mut *t2)
        .await
        .unwrap();
    t1.commit().await.unwrap();
    let err = Error::from(t2.commit().await.unwrap_err());
    assert!(err.is_retryable(), "{err:?}");
    assert!(matches!(
        err,
        Error::Retryable {
            sqlstate: "40001",
            ..
        }
    ));
}

#[tokio::test]
async fn deadlock_is_retryable() {
    let db = fresh_db().await;
    let p = pool(&db).clone();
    let u1 = insert_user(&p, "d1@example.com").await;
    let u2 = insert_user(&p, "d2@example.com").await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let run = |first, second| {
        let p = p.clone();
        let barrier = barrier.clone();
        tokio::spawn(async move {
            let mut tx = p.begin().await.unwrap();
            sqlx::query("UPDATE mixerai.users SET login_count = login_count + 1 WHERE id = $1")
                .bind(first)
                .execute(&mut *tx)
                .await
                .unwrap();
            barrier.wait().await;
            let r =
                sqlx::query("UPDATE mixerai.users SET login_count = login_count + 1 WHERE id = $1")
                    .bind(second)
                    .execute(&mut *tx)
                    .await;
            match r {
                Ok(_) => tx.commit().await.map_err(Error::from),
                Err(e) => Err(Error::from(e)),
            }
        })
    };
    let (a, b) = tokio::join!(run(u1, u2), run(u2, u1));
    let results = [a.unwrap(), b.unwrap()];
    let deadlocked: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(deadlocked.len(), 1, "{results:?}");
    assert!(
        matches!(
            deadlocked[0],
            Error::Retryable {
                sqlstate: "40P01",
                ..
            }
        ),
        "{results:?}"
    );
}
