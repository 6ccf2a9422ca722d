//! A small HTTP service over the crate, the shape a host application copies: the crate's migrations
//! then the host's own, set-up in a system scope, one tenant scope per request (from the acting user
//! and brand), content create / get / list / search / update, a note table of the host's own under
//! the same isolation, and every error class answered with the status a client can act on.
//!
//! ```text
//! cargo run --example http_service          # a throwaway PostgreSQL, then http://127.0.0.1:3000
//! DATABASE_URL=postgres://... cargo run --example http_service
//! cargo test --example http_service         # its tests (also part of plain `cargo test`)
//! ```
//!
//! Who is acting comes from the `x-user-id` header, which stands for the host's own session: a real
//! service derives the user from its authentication, never from a header the client sets.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use mixerai_data::content::{Content, ContentFilter, ContentPatchBuilder, NewContentBuilder};
use mixerai_data::types::{BrandId, ContentId, UserId};
use mixerai_data::{Database, Error, Page, PageRequest};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::migrate::Migrator;

/// The host's own migrations: a tenant table of notes on content items (see its header for the
/// pattern). They use the crate's schema, so they run after `Database::migrate`.
static HOST_MIGRATIONS: Migrator = sqlx::migrate!("examples/host_migrations");

/// Shared state of the service: the crate's handle (a pool inside; cheap to clone).
#[derive(Clone)]
struct App {
    db: Database,
}

/// The router: every route is tenant work in the brand named by the path.
fn router(db: Database) -> Router {
    Router::new()
        .route("/brands/{brand}/content", get(list).post(create))
        .route("/brands/{brand}/content/{id}", get(read).patch(update))
        .route("/brands/{brand}/search", get(search))
        .route(
            "/brands/{brand}/content/{id}/notes",
            get(notes).post(add_note),
        )
        .with_state(App { db })
}

/// What went wrong, as the client sees it: the crate's error mapped to a status and a JSON body.
struct ApiError(Error);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        Self(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = self.0;
        let (status, body) = match &err {
            Error::Invalid(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": "invalid", "errors": errors}),
            ),
            Error::NotFound { entity } => (
                StatusCode::NOT_FOUND,
                json!({"error": "not_found", "entity": entity}),
            ),
            // Re-read, then decide: the body says which version the row is at now.
            Error::Stale {
                entity,
                expected,
                actual,
            } => (
                StatusCode::CONFLICT,
                json!({"error": "stale", "entity": entity, "expected": expected, "current_version": actual}),
            ),
            Error::Conflict {
                constraint, field, ..
            } => (
                StatusCode::CONFLICT,
                json!({"error": "conflict", "constraint": constraint, "field": field}),
            ),
            // 409, not 422: nothing in the request is invalid (422 says "fix your input"); it
            // conflicts with the state of the item and its brand (the version's checks, the brand's
            // settings), and the same request succeeds once that changes: the version re-checked, its
            // text fixed, the settings changed. The body names the stage and the blocking markets, so
            // the client knows what to re-check.
            Error::ComplianceBlocked { stage, markets } => (
                StatusCode::CONFLICT,
                json!({"error": "compliance_blocked", "stage": stage, "markets": markets}),
            ),
            // 409 for the same reason: the step conflicts with the item's status, not the input.
            Error::IllegalTransition { from, to } => (
                StatusCode::CONFLICT,
                json!({"error": "illegal_transition", "from": from.as_str(), "to": to.as_str()}),
            ),
            Error::InvalidReference { field, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": "invalid_reference", "field": field}),
            ),
            Error::Forbidden { reason, .. } => (
                StatusCode::FORBIDDEN,
                json!({"error": "forbidden", "reason": reason}),
            ),
            // Safe to retry, and run_in_scope already did: tell the client to come back.
            Error::Unavailable { .. } | Error::Retryable { .. } => {
                let mut response = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({"error": "unavailable", "retry": true})),
                )
                    .into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return response;
            }
            // Not safe to retry blindly: say so, so the client checks before trying again.
            Error::CommitUnknown { .. } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "outcome_unknown",
                       "message": "the change may or may not have been saved; read it back before retrying"}),
            ),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "internal"}),
            ),
        };
        if status.is_server_error() {
            // The server's details (the sqlx source) go to the log, never to the client.
            eprintln!("{status}: {err} ({:?})", std::error::Error::source(&err));
        }
        (status, Json(body)).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The acting user. Stands for the host's authentication (see the module docs).
fn acting_user(headers: &HeaderMap) -> ApiResult<UserId> {
    headers
        .get("x-user-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            ApiError(Error::Forbidden {
                reason: "no acting user".into(),
                source: None,
            })
        })
}

async fn create(
    State(app): State<App>,
    Path(brand): Path<BrandId>,
    headers: HeaderMap,
    // The request body is the crate's raw input: no struct of the host's to copy it into.
    Json(input): Json<NewContentBuilder>,
) -> ApiResult<(StatusCode, Json<Content>)> {
    let user = acting_user(&headers)?;
    let new = input.build().map_err(Error::from)?;
    let created = app
        .db
        .run_in_scope(user, brand, move |scope| {
            let new = new.clone();
            Box::pin(async move { scope.content().create(&new).await })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn read(
    State(app): State<App>,
    Path((brand, id)): Path<(BrandId, ContentId)>,
    headers: HeaderMap,
) -> ApiResult<Json<Content>> {
    let user = acting_user(&headers)?;
    let item = app
        .db
        .run_in_scope(user, brand, move |scope| {
            Box::pin(async move { scope.content().get(id).await })
        })
        .await?;
    Ok(Json(item))
}

/// The filters a list request may carry in its query string, beside the page (`limit`, `after`).
#[derive(Deserialize)]
struct ListQuery {
    #[serde(rename = "type")]
    content_type: Option<String>,
    tag: Option<String>,
}

async fn list(
    State(app): State<App>,
    Path(brand): Path<BrandId>,
    headers: HeaderMap,
    // The page straight from the query string: PageRequest deserialises itself (and clamps).
    Query(page): Query<PageRequest>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Page<Content>>> {
    let user = acting_user(&headers)?;
    let filter = ContentFilter {
        content_type: query.content_type,
        tag: query.tag,
        ..ContentFilter::default()
    };
    let items = app
        .db
        .run_in_scope(user, brand, move |scope| {
            let filter = filter.clone();
            Box::pin(async move { scope.content().list(&filter, &page).await })
        })
        .await?;
    Ok(Json(items))
}

#[derive(Deserialize)]
struct SearchQuery {
    q: String,
}

async fn search(
    State(app): State<App>,
    Path(brand): Path<BrandId>,
    headers: HeaderMap,
    Query(query): Query<SearchQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let user = acting_user(&headers)?;
    let hits = app
        .db
        .run_in_scope(user, brand, move |scope| {
            let q = query.q.clone();
            Box::pin(async move { scope.content().search(&q, 20).await })
        })
        .await?;
    Ok(Json(json!({ "hits": hits })))
}

/// A patch request: the version the client read (`If-Match`, as HTTP has it) and the raw patch.
async fn update(
    State(app): State<App>,
    Path((brand, id)): Path<(BrandId, ContentId)>,
    headers: HeaderMap,
    Json(input): Json<ContentPatchBuilder>,
) -> ApiResult<Json<Content>> {
    let user = acting_user(&headers)?;
    let version: i32 = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_matches('"').parse().ok())
        .ok_or_else(|| {
            ApiError(Error::Invalid(mixerai_data::ValidationErrors::single(
                "If-Match",
                "the version the change is based on is required",
            )))
        })?;
    let patch = input.build().map_err(Error::from)?;
    let updated = app
        .db
        .run_in_scope(user, brand, move |scope| {
            let patch = patch.clone();
            Box::pin(async move { scope.content().update(id, version, &patch).await })
        })
        .await?;
    Ok(Json(updated))
}

/// A note of the host's own table, under the crate's isolation.
#[derive(Serialize, Deserialize, sqlx::FromRow)]
struct Note {
    id: uuid::Uuid,
    author_id: uuid::Uuid,
    body: String,
}

#[derive(Deserialize)]
struct NewNote {
    body: String,
}

async fn add_note(
    State(app): State<App>,
    Path((brand, id)): Path<(BrandId, ContentId)>,
    headers: HeaderMap,
    Json(new): Json<NewNote>,
) -> ApiResult<(StatusCode, Json<Note>)> {
    let user = acting_user(&headers)?;
    let note = app
        .db
        .run_in_scope(user, brand, move |scope| {
            let body = new.body.clone();
            Box::pin(async move {
                // The host's own SQL in the scope: it runs as mixerai_app, under the same policies,
                // and the composite key refuses another brand's item.
                Ok(sqlx::query_as::<_, Note>(
                    "INSERT INTO public.content_notes (content_id, body) VALUES ($1, $2)
                     RETURNING id, author_id, body",
                )
                .bind(id)
                .bind(body)
                .fetch_one(scope.connection())
                .await?)
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(note)))
}

async fn notes(
    State(app): State<App>,
    Path((brand, id)): Path<(BrandId, ContentId)>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<Note>>> {
    let user = acting_user(&headers)?;
    let notes = app
        .db
        .run_in_scope(user, brand, move |scope| {
            Box::pin(async move {
                Ok(sqlx::query_as::<_, Note>(
                    "SELECT id, author_id, body FROM public.content_notes
                     WHERE content_id = $1 ORDER BY created_at, id",
                )
                .bind(id)
                .fetch_all(scope.connection())
                .await?)
            })
        })
        .await?;
    Ok(Json(notes))
}

/// Migrations as a host runs them at start-up: the crate's first, then the host's own.
async fn migrate(db: &Database) -> mixerai_data::Result<()> {
    db.migrate().await?;
    HOST_MIGRATIONS.run(db.pool()).await?;
    Ok(())
}

/// Set-up work in a system scope: an editor and their brand.
async fn set_up(db: &Database) -> mixerai_data::Result<(UserId, BrandId)> {
    use mixerai_data::brands::{BrandRole, NewBrand, NewMembership};
    use mixerai_data::users::NewUser;
    db.run_in_system_scope(|system| {
        Box::pin(async move {
            let suffix = uuid::Uuid::new_v4().simple().to_string();
            let editor = system
                .users()
                .create(
                    &NewUser::builder()
                        .email(format!("editor+{}@example.com", &suffix[..8]))
                        .first_name("Edith")
                        .last_name("Editor")
                        .build()?,
                )
                .await?;
            let brand = system
                .brands()
                .create(
                    &NewBrand::builder()
                        .name(format!("Service Brand {}", &suffix[..8]))
                        .country("GB")
                        .language("en")
                        .build()?,
                    editor.id,
                )
                .await?;
            system
                .brands()
                .grant(
                    brand.id,
                    editor.id,
                    &NewMembership::builder().role(BrandRole::Editor).build()?,
                )
                .await?;
            Ok((editor.id, brand.id))
        })
    })
    .await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (db, _throwaway) = mixerai_data::test_support::database_from_env_or_throwaway().await?;
    migrate(&db).await?;
    let (editor, brand) = set_up(&db).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    println!("try: curl -s -H 'x-user-id: {editor}' -H 'content-type: application/json' \\");
    println!("       -d '{{\"type\": \"article\", \"title\": \"Hello\"}}' \\");
    println!("       http://127.0.0.1:3000/brands/{brand}/content");
    axum::serve(listener, router(db)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use mixerai_data::test_support::TestServer;
    use tower::ServiceExt;

    struct Service {
        router: Router,
        editor: UserId,
        brand: BrandId,
        /// Keeps the test's database alive (on a shared server, dropping it drops the database).
        db: std::sync::Arc<mixerai_data::test_support::TestDatabase>,
    }

    async fn service() -> Service {
        let test_db = TestServer::global()
            .await
            .unwrap()
            .database_with(&HOST_MIGRATIONS)
            .await
            .unwrap();
        let db = test_db.database().clone();
        let (editor, brand) = set_up(&db).await.unwrap();
        Service {
            router: router(db),
            editor,
            brand,
            db: std::sync::Arc::new(test_db),
        }
    }

    impl Service {
        async fn call(
            &self,
            method: &str,
            uri: String,
            headers: &[(&str, String)],
            body: Option<serde_json::Value>,
        ) -> (StatusCode, HeaderMap, serde_json::Value) {
            let mut request = Request::builder()
                .method(method)
                .uri(uri)
                .header("x-user-id", self.editor.to_string());
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            let request = match body {
                Some(b) => request
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(b.to_string())),
                None => request.body(Body::empty()),
            }
            .unwrap();
            let response = self.router.clone().oneshot(request).await.unwrap();
            let (status, headers) = (response.status(), response.headers().clone());
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
            (status, headers, json)
        }

        fn content(&self) -> String {
            format!("/brands/{}/content", self.brand)
        }
    }

    #[tokio::test]
    async fn content_is_created_read_listed_searched_and_updated_over_http() {
        let s = service().await;
        let (status, _, created) = s
            .call(
                "POST",
                s.content(),
                &[],
                Some(json!({"type": "article", "title": "Engines of Difference",
                            "body": "<p>Brass and algebra</p>", "tags": ["History"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["slug"], "engines-of-difference");
        assert_eq!(created["tags"], json!(["history"]));
        let id = created["id"].as_str().unwrap().to_owned();

        let (status, _, read) = s
            .call("GET", format!("{}/{id}", s.content()), &[], None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(read, created);

        let (status, _, page) = s
            .call(
                "GET",
                format!("{}?type=article&limit=10", s.content()),
                &[],
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["items"].as_array().unwrap().len(), 1);

        let (status, _, found) = s
            .call(
                "GET",
                format!("/brands/{}/search?q=algebra", s.brand),
                &[],
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(found["hits"][0]["id"], created["id"]);

        let (status, _, updated) = s
            .call(
                "PATCH",
                format!("{}/{id}", s.content()),
                &[("if-match", "1".to_owned())],
                Some(json!({"title": "Engines, revised", "body": null})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(updated["version"], 2);
        assert_eq!(updated["body"], serde_json::Value::Null);
    }

    #[tokio::test]
    async fn a_stale_version_is_409_with_the_current_version_and_bad_input_is_422_naming_fields() {
        let s = service().await;
        let (_, _, created) = s
            .call(
                "POST",
                s.content(),
                &[],
                Some(json!({"type": "article", "title": "T"})),
            )
            .await;
        let id = created["id"].as_str().unwrap().to_owned();
        let patch = |title: &str| Some(json!({ "title": title }));
        let (status, _, _) = s
            .call(
                "PATCH",
                format!("{}/{id}", s.content()),
                &[("if-match", "1".into())],
                patch("A"),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, body) = s
            .call(
                "PATCH",
                format!("{}/{id}", s.content()),
                &[("if-match", "1".into())],
                patch("B"),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["error"], "stale");
        assert_eq!(body["current_version"], 2);

        let (status, _, body) = s
            .call(
                "POST",
                s.content(),
                &[],
                Some(json!({"type": "", "title": "", "metadata": {"ogImage": "ftp://x"}})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let fields: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["type", "title", "metadata.og_image"], "{body}");
        let (status, _, body) = s
            .call(
                "POST",
                s.content(),
                &[],
                Some(json!({"type": "article", "title": "T"})),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["field"], "slug");
        let (status, _, _) = s
            .call(
                "PATCH",
                format!("{}/{id}", s.content()),
                &[],
                patch("No version"),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[tokio::test]
    async fn another_brand_is_not_found_an_outsider_is_refused_and_host_notes_stay_in_the_brand() {
        let s = service().await;
        let (_, _, created) = s
            .call(
                "POST",
                s.content(),
                &[],
                Some(json!({"type": "article", "title": "Ours"})),
            )
            .await;
        let id = created["id"].as_str().unwrap().to_owned();
        let (status, _, note) = s
            .call(
                "POST",
                format!("{}/{id}/notes", s.content()),
                &[],
                Some(json!({"body": "Check the claim"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{note}");
        assert_eq!(note["author_id"], s.editor.to_string());

        // Another tenant of the same service: their brand, their editor.
        let other = service_in(&s).await;
        let (status, _, _) = other
            .call("GET", format!("{}/{id}", other.content()), &[], None)
            .await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "another brand's item does not exist for them"
        );
        let (status, _, body) = other
            .call(
                "POST",
                format!("{}/{id}/notes", other.content()),
                &[],
                Some(json!({"body": "graffiti"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"], "invalid_reference");
        let (_, _, theirs) = other
            .call("GET", format!("{}/{id}/notes", other.content()), &[], None)
            .await;
        assert_eq!(theirs, json!([]));

        // The editor of one brand asking in the other brand has no role there.
        let (status, _, page) = s.call("GET", other.content(), &[], None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            page["items"],
            json!([]),
            "no role: an empty list, never another's rows"
        );
        let (status, _, body) = s
            .call(
                "POST",
                other.content(),
                &[],
                Some(json!({"type": "article", "title": "Trespass"})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }

    /// A second tenant of the same service: another editor and brand in the same database.
    async fn service_in(s: &Service) -> Service {
        let (editor, brand) = set_up(s.db.database()).await.unwrap();
        Service {
            router: s.router.clone(),
            editor,
            brand,
            db: s.db.clone(),
        }
    }

    #[tokio::test]
    async fn a_step_the_compliance_gate_blocks_is_409_naming_the_stage_and_markets() {
        let blocked = ApiError(Error::ComplianceBlocked {
            stage: mixerai_data::claims::GateStage::Publishing,
            markets: vec![
                mixerai_data::types::CountryCode::parse("FR").unwrap(),
                mixerai_data::types::CountryCode::parse("GB").unwrap(),
            ],
        })
        .into_response();
        assert_eq!(blocked.status(), StatusCode::CONFLICT);
        let bytes = blocked.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            body,
            json!({"error": "compliance_blocked", "stage": "publishing", "markets": ["FR", "GB"]})
        );
    }

    #[tokio::test]
    async fn a_lost_connection_is_503_with_retry_after_and_an_unknown_outcome_is_500_saying_so() {
        let unavailable = ApiError(Error::Unavailable {
            source: sqlx::Error::PoolTimedOut,
        })
        .into_response();
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unavailable.headers()[header::RETRY_AFTER], "1");
        let unknown = ApiError(Error::CommitUnknown {
            source: sqlx::Error::PoolTimedOut,
        })
        .into_response();
        assert_eq!(unknown.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = unknown.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"], "outcome_unknown");
        assert!(body["message"].as_str().unwrap().contains("may or may not"));

        // And for real: a pool whose every connection is taken answers 503 once run_in_scope has
        // given up, never a 500.
        let s = service().await;
        let db = Database::from_pool(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(std::time::Duration::from_millis(100))
                .connect_with(s.db.connect_options().clone())
                .await
                .unwrap(),
        )
        .with_retry_policy(mixerai_data::RetryPolicy {
            max_attempts: 2,
            ..Default::default()
        });
        let held = db.pool().acquire().await.unwrap();
        let busy = Service {
            router: router(db),
            editor: s.editor,
            brand: s.brand,
            db: s.db.clone(),
        };
        let (status, headers, body) = busy.call("GET", busy.content(), &[], None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(headers[header::RETRY_AFTER], "1");
        drop(held);
    }
}
