//! The text side of translation: cutting articles into sentences, grouping them into batches, and putting
//! the translations back in the article's layout.
//!
//! This layer never touches tensors or model files; it sees text, token counts and indices only.

pub mod batch;
pub mod chat;
pub mod fidelity;
pub mod info;
pub mod load;
pub mod report;
pub mod segment;
pub mod summarize;
pub mod tidy;
pub mod translate;
