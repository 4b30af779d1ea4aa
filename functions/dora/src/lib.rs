//! DORA metrics: the four keys over a deployment ledger, computed exactly as `docs/dora.md` defines them.

pub mod adapters;
pub mod backfill;
pub mod decide;
pub mod deps;
pub mod error;
pub mod events;
pub mod handler;
pub mod ledger;
pub mod model;
pub mod report;
pub mod tiers;

pub use error::DoraError;
pub use handler::{Calculator, Deps, Outcome, serve};
