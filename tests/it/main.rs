//! tolk's integration tests: one test binary, one module per concern.

mod bench;
mod cli;
mod common;
mod ct2;
mod hub;
mod info;
mod marian_parity;
mod segment;
mod support;
mod tokenize;
mod translate;
