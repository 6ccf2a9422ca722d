//! The one integration-test binary: every test talks to a real PostgreSQL, in a database of its own.

mod support;

mod crypto;
mod errata;
mod errors;
mod migrations;
mod pgbouncer;
mod plans;
mod pooling;
mod scope;
mod tenancy;
