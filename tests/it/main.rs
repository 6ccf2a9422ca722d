//! The one integration-test binary: every test talks to a real PostgreSQL, in a database of its own.

mod support;

mod ai;
mod brands;
mod claims;
mod content;
mod crypto;
mod embedding;
mod errata;
mod errors;
mod hardening;
mod migrations;
mod owner;
mod plans;
mod pooling;
mod proxy;
mod retry;
mod round_trips;
mod scenario;
mod scope;
mod templates;
mod tenancy;
mod users;
mod workflows;
