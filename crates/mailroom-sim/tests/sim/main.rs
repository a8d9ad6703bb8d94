//! The simulator's behaviour and its conformance to the providers' documentation, over real HTTP.
#![allow(clippy::unwrap_used, reason = "a test that cannot go on should stop loudly")]

mod control;
mod gmail;
mod graph;
mod oauth;
mod seeding;
mod support;
