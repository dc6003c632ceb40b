//! tolk's integration tests: one test binary, one module per concern.

mod batch;
mod bench;
mod cli;
mod common;
mod ct2;
#[cfg(feature = "detect")]
mod detect;
mod fidelity;
mod fuzz;
mod gguf;
mod hub;
mod info;
mod limits;
mod marian_parity;
mod registry;
mod segment;
mod serve;
mod streams;
mod summarize;
mod summarize_real;
mod support;
mod t5_parity;
mod tokenize;
mod translate;
