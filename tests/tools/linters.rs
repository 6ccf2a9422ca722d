//! The SQL linters CI runs, as tests that fail on any finding not listed (and justified) here:
//! squawk over the migrations (npm `squawk-cli`) and plpgsql_check over every PL/pgSQL function and
//! trigger (Debian `postgresql-15-plpgsql-check`), with all of its warnings on.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{admin_pool, fresh_db};

/// The last migration of the baseline: the schema as first released. Migrations after it change
/// tables that hold data, so they follow every zero-downtime rule (migrations/README.md) and squawk
/// checks them with no exception.
const BASELINE: i64 = 12;

/// Rules the baseline is exempt from, and why. Nothing else of squawk's is exempt.
const BASELINE_EXCEPTIONS: &[(&str, &str)] = &[
    (
        "prefer-text-field",
        "VARCHAR(n) columns carry the lengths of the specification's data model, which the builders \
         enforce too; the baseline creates them on new, empty tables, where no lock is at stake. \
         Changing a length later is a migration of its own, under the rules.",
    ),
    (
        "prefer-bigint-over-int",
        "INTEGER columns are versions, counters, token counts and priorities that stay far below \
         2^31; ids are UUIDs and the global event position is BIGINT already.",
    ),
];

/// One plpgsql_check finding: function, table (for a trigger), line, message, detail.
type Finding = (String, String, Option<i32>, String, Option<String>);

/// plpgsql_check findings accepted as they are, as (function, message) with the reason. None so far.
const PLPGSQL_CHECK_EXCEPTIONS: &[(&str, &str, &str)] = &[];

fn migrations() -> Vec<(i64, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<(i64, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let version = name.split('_').next().unwrap().parse().unwrap();
            (version, p)
        })
        .collect();
    files.sort();
    files
}

fn squawk() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("squawk"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "squawk not found in PATH: install it with `npm install -g squawk-cli` to run this test"
        )
    })
}

/// squawk's findings (gcc format) for `files`; each file is checked as sqlx applies it: inside a
/// transaction unless it starts with `-- no-transaction`.
fn lint(files: &[&Path], exclude: &[&str]) -> Vec<String> {
    let mut findings = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        let mut command = Command::new(squawk());
        command.args(["--pg-version=15.0", "--reporter", "gcc"]);
        if !text.starts_with("-- no-transaction") {
            command.arg("--assume-in-transaction");
        }
        if !exclude.is_empty() {
            command.arg(format!("--exclude={}", exclude.join(",")));
        }
        let out = command.arg(file).output().expect("run squawk");
        let stdout = String::from_utf8_lossy(&out.stdout);
        findings.extend(
            stdout
                .lines()
                .filter(|l| l.contains(": warning: ") || l.contains(": error: "))
                .map(str::to_owned),
        );
        assert!(
            out.status.success() || !findings.is_empty(),
            "squawk failed without a finding on {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    findings
}

#[test]
fn squawk_finds_nothing_in_the_baseline_beyond_its_listed_exceptions() {
    let files = migrations();
    let baseline: Vec<&Path> = files
        .iter()
        .filter(|(v, _)| *v <= BASELINE)
        .map(|(_, p)| p.as_path())
        .collect();
    assert_eq!(baseline.len(), BASELINE as usize);
    let exclude: Vec<&str> = BASELINE_EXCEPTIONS.iter().map(|(rule, _)| *rule).collect();
    assert_eq!(lint(&baseline, &exclude), Vec::<String>::new());
}

#[test]
fn squawk_finds_nothing_in_the_migrations_after_the_baseline() {
    let files = migrations();
    let later: Vec<&Path> = files
        .iter()
        .filter(|(v, _)| *v > BASELINE)
        .map(|(_, p)| p.as_path())
        .collect();
    assert_eq!(lint(&later, &[]), Vec::<String>::new());
}

#[test]
fn squawk_refuses_what_the_zero_downtime_rules_forbid() {
    // Each statement breaks one rule of migrations/README.md; the linter must see every one, or the
    // two tests above prove nothing.
    let dir = std::env::temp_dir().join(format!("mixerai-squawk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        (
            "index",
            "CREATE INDEX IF NOT EXISTS idx_x ON mixerai.content (title);",
            "require-concurrent-index-creation",
        ),
        (
            "required",
            "SET LOCAL lock_timeout = '5s'; ALTER TABLE mixerai.content ADD COLUMN x text NOT NULL;",
            "adding-required-field",
        ),
        (
            "constraint",
            "SET LOCAL lock_timeout = '5s'; ALTER TABLE mixerai.content ADD CONSTRAINT c CHECK (views < 10);",
            "constraint-missing-not-valid",
        ),
        (
            "timeout",
            "ALTER TABLE mixerai.content ADD COLUMN y text;",
            "require-lock-timeout",
        ),
    ];
    for (name, sql, rule) in cases {
        let file = dir.join(format!("9999_{name}.sql"));
        std::fs::write(&file, sql).unwrap();
        let findings = lint(&[file.as_path()], &[]);
        assert!(
            findings.iter().any(|f| f.contains(rule)),
            "{rule} not reported for {sql}: {findings:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn plpgsql_check_finds_nothing_in_any_function_or_trigger() {
    let db = fresh_db().await;
    let admin = admin_pool(&db);
    sqlx::query("CREATE EXTENSION IF NOT EXISTS plpgsql_check")
        .execute(&admin)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "plpgsql_check is not installed for this PostgreSQL (Debian: apt-get install \
                 postgresql-15-plpgsql-check): {e}"
            )
        });
    // Every PL/pgSQL function of the schema; a trigger function once per table it is attached to,
    // with the trigger's transition tables, so column references are checked against real rows.
    let findings: Vec<Finding> = sqlx::query_as(
        "WITH targets AS (
             SELECT p.oid AS fn, t.tgrelid AS rel, t.tgoldtable AS old_table, t.tgnewtable AS new_table
             FROM pg_proc p
             JOIN pg_trigger t ON t.tgfoid = p.oid AND NOT t.tgisinternal
             WHERE p.pronamespace = 'mixerai'::regnamespace
               AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')
             UNION ALL
             SELECT p.oid, 0::oid, NULL::name, NULL::name FROM pg_proc p
             WHERE p.pronamespace = 'mixerai'::regnamespace
               AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')
               AND p.prorettype <> 'trigger'::regtype)
         SELECT t.fn::regprocedure::text, t.rel::regclass::text, r.lineno, r.message, r.detail
         FROM targets t
         CROSS JOIN LATERAL plpgsql_check_function_tb(
             t.fn, t.rel, fatal_errors => false, other_warnings => true, performance_warnings => true,
             extra_warnings => true, security_warnings => true, compatibility_warnings => true,
             oldtable => t.old_table, newtable => t.new_table) r
         ORDER BY 1, 2, 3",
    )
    .fetch_all(&admin)
    .await
    .unwrap();
    let checked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_proc WHERE pronamespace = 'mixerai'::regnamespace
           AND prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert!(
        checked >= 15,
        "only {checked} PL/pgSQL functions: not migrated?"
    );
    let unexpected: Vec<String> = findings
        .iter()
        .filter(|(f, _, _, m, _)| {
            !PLPGSQL_CHECK_EXCEPTIONS
                .iter()
                .any(|(ef, em, _)| f == ef && m.contains(em))
        })
        .map(|(f, rel, line, message, detail)| {
            format!("{f} on {rel}, line {line:?}: {message} ({detail:?})")
        })
        .collect();
    assert_eq!(unexpected, Vec::<String>::new());
}
