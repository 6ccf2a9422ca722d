//! AI generations: one AI request and its outcome, and usage totals (spec 2.6; the table is
//! migration 0011's, since the spec names the entity without one).
//!
//! Laid out as every domain module is: model (what a generation is: [`AiGeneration`],
//! [`AiGenerationType`], [`AiGenerationStatus`], [`MonthlyUsage`]), input (what a caller hands in:
//! [`AiGenerationInput`], [`NewAiGeneration`] and [`Completion`] with their builders,
//! [`AiGenerationFilter`]), the repository ([`AiGenerationRepo`]), and `cost` (money: [`Cost`]).
//!
//! A generation is recorded `pending` when the request is sent ([`AiGenerationRepo::create`], at
//! version 1) and then settled exactly once, as `completed` with its output, tokens, latency and
//! [`Cost`] ([`AiGenerationRepo::complete`]) or as `failed` with the error
//! ([`AiGenerationRepo::fail`]), which brings it to version 2. Any editor of the brand may settle a
//! generation (a worker may finish what a user asked for); viewers read; editors record.
//!
//! # Decisions
//! - **Settling is a versioned write.** `complete` and `fail` take the `version` the caller read.
//!   Settling a generation twice from the same read is [`Error::Stale`](crate::Error::Stale) (it is at
//!   version 2 now): of two workers finishing the same request, exactly one wins and the other is
//!   told the generation moved on. A generation read already settled has nothing left to settle:
//!   [`Error::NotFound`](crate::Error::NotFound), as for any write of a row not in the state it needs.
//! - **The completion is the generation's patch.** One raw input, [`AiGenerationInput`], serves the
//!   recorded request ([`NewAiGenerationBuilder`], the create) and its outcome
//!   ([`CompletionBuilder`], the only change a recorded generation takes), as every aggregate's input
//!   serves its create and its patch. Each side refuses the other's fields: the request is fixed once
//!   recorded, and the outcome comes only with the completion. A failure carries one text, so
//!   [`AiGenerationRepo::fail`] takes it as an argument.
//! - **No soft delete.** Generations are logs with their own retention (spec 5.2: 90 days when
//!   completed, 30 days when failed), purged by it; they are never soft-deleted, so there is no
//!   `soft_delete`, `restore` or `get_including_deleted`, and [`AiGenerationFilter`] has no
//!   `deleted`. Nor are they copied into the audit trail.
//! - **Money** is a [`Cost`]: exact US dollars to 1/10 000, a checked `rust_decimal::Decimal` bound as
//!   `NUMERIC` by sqlx.

mod cost;
mod input;
mod model;
mod repo;

pub use cost::Cost;
pub use input::{
    AiGenerationFilter, AiGenerationInput, Completion, CompletionBuilder, NewAiGeneration,
    NewAiGenerationBuilder,
};
pub use model::{AiGeneration, AiGenerationStatus, AiGenerationType, MonthlyUsage};
pub use repo::{AiGenerationRepo, MAX_USAGE_MONTHS};
