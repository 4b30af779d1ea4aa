//! Email approvals: `approval-mailer` emails each approver a signed link; `approval-api` shows the page and resumes the workflow on a decision.

pub mod adapters;
pub mod api;
pub mod audit;
pub mod deliver;
pub mod deps;
pub mod groups;
pub mod mailer;
pub mod model;
pub mod pipeline;
pub mod render;
pub mod request;
pub mod signing;
pub mod store;
pub mod votes;
