//! tolk's integration tests: one test binary, one module per concern.

mod common;
mod hub;
mod cli;
mod marian_parity;
mod segment;
mod support;
mod tokenize;
mod translate;
