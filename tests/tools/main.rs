//! The proofs that need tools a fresh machine lacks: PgBouncer (transaction pooling) and, where the
//! issues ask for them, external linters. Not part of plain `cargo test` (`test = false` in
//! Cargo.toml), so the README's test command passes on a machine with nothing but the PostgreSQL server
//! binaries; `.ci/run` installs the tools and runs `cargo test --test tools`. Each test here fails when
//! its tool is missing: none skips what it claims to prove.

// Shared with the main suite, which uses every helper; this binary uses some.
#[allow(dead_code)]
#[path = "../it/support.rs"]
mod support;

#[allow(dead_code)]
#[path = "../it/scenario.rs"]
mod scenario;

mod linters;
mod pgbouncer;
