//! The one integration-test binary: every test talks to a real PostgreSQL, in a database of its own.

mod support;

mod ai;
mod brands;
mod claims;
mod claims_plans;
mod claims_resolve;
mod compliance;
mod content;
mod crypto;
mod embedding;
mod errata;
mod errors;
mod events;
mod hardening;
mod migrations;
mod owner;
mod plans;
mod pooling;
mod proxy;
mod retry;
mod review;
mod review_plans;
mod round_trips;
mod scenario;
mod scope;
mod templates;
mod tenancy;
mod users;
mod versioning;
mod workflows;
