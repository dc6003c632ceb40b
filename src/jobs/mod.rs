//! Batch jobs over many documents (`tolk batch`): a day of wire copy in, one English record per
//! document out, resumable after any interruption.
//!
//! - [`input`]: records from a JSONL file or a folder, bad lines as failed records;
//! - [`plan`]: each document's (and paragraph's) language;
//! - [`models`]: which model serves a language (the `models/` registry), loaded once;
//! - [`run`]: windows of documents translated together, summarized, written in order;
//! - [`output`]: the JSONL output, one fsync'd record at a time, read back to resume.
//!
//! Output records: `id`, `line` (JSONL inputs), `title` (when given), `lang`, `langs` (when
//! paragraphs differ), `translation`, `summary`, `models` (`translate`, `summarize`), `timings`
//! (`translate_ms`: the document's share, by characters, of the batched translation time;
//! `summarize_ms`), `fidelity` (`missing` / `added`: numbers of the source the translation lacks
//! and numbers it has that the source lacks, paragraph by paragraph; see
//! [`crate::pipeline::fidelity`]), and `error` when the record failed.

pub mod input;
pub mod models;
pub mod output;
pub mod plan;
pub mod run;
