//! Command-line flags as clap parses them. This is the only module that knows clap; flags are
//! validated into library types in the command modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Translate foreign-language news into English and write short briefings.
#[derive(Debug, Parser)]
#[command(name = "tolk", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Translate an article (or one sentence per line with --lines) into English.
    Translate(TranslateArgs),
    /// Summarize an English article into a short briefing.
    Summarize(SummarizeArgs),
    /// Translate a foreign-language article into English, then summarize it.
    Brief(BriefArgs),
    /// Show what a model is: languages, architecture, stored dtypes, sizes, where it lives.
    Info(InfoArgs),
    /// Measure load time, encoder and decoder speed, tokens/s and memory on fixed shapes.
    Bench(BenchArgs),
    /// Translate and summarize many documents (JSONL or a folder) into a resumable JSONL file.
    Batch(BatchArgs),
    /// Queue documents (JSONL or a folder) on a Redis stream for `tolk worker`s, once each.
    Enqueue(EnqueueArgs),
    /// Take documents from a Redis stream with other workers, as `tolk batch` processes them.
    Worker(WorkerArgs),
    /// Write the workers' finished records from Redis into a resumable JSONL file.
    Results(ResultsArgs),
    /// List the models tolk knows by name (models/*.toml), and whether each is downloaded.
    Models(ModelsArgs),
    /// Serve translations and briefings over HTTP: LibreTranslate's API and tolk's own.
    Serve(ServeArgs),
}

/// How results are printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Plain text, the article's layout kept.
    Text,
    /// One JSON object for the whole input.
    Json,
    /// One JSON object per line (with --lines) or per sentence.
    Jsonl,
}

/// Flags shared by every command that runs a model.
#[derive(Debug, Args)]
pub struct RuntimeArgs {
    /// Device: cpu, cuda or cuda:N.
    #[arg(long, value_parser = device_arg, default_value = "cpu")]
    pub device: String,
    /// Compute dtype: auto, f32, f16 or bf16, or int8 (linear layers as int8 products:
    /// CTranslate2 int8 weights kept as stored, float weights quantized to Q8_0 at load). auto:
    /// int8 for models stored in int8 (CTranslate2/Argos int8 packages) on the CPU, else f32.
    #[arg(long, value_parser = dtype_arg, default_value = "auto")]
    pub dtype: String,
    /// CPU threads for matrix products (default: all cores).
    #[arg(long, value_parser = at_least_one)]
    pub threads: Option<usize>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// Input file; `-` or nothing reads standard input.
    pub input: Option<PathBuf>,
    /// Model: a Hub repo id (`owner/name[@revision]`) or a local folder.
    #[arg(long, short, default_value = "Helsinki-NLP/opus-mt-da-en")]
    pub model: String,
    /// Translate each input line on its own: exactly one output line per input line.
    #[arg(long)]
    pub lines: bool,
    /// Print the model's decoded text as it is (no joining of "China ' s" or " ,", no ASCII
    /// for full-width punctuation): what reference implementations print, for scoring.
    #[arg(long)]
    pub raw: bool,
    /// The source language (ISO 639-1), for reading its numbers in the fidelity check
    /// (default: the model's, from its metadata or name).
    #[arg(long, value_name = "LANG")]
    pub from: Option<String>,
    /// Exit 1 when a number, name or quotation of the source is missing from the translation (after
    /// printing it).
    #[arg(long)]
    pub strict: bool,
    /// Beam size (default: the model's generation config).
    #[arg(long, value_parser = at_least_one)]
    pub beams: Option<usize>,
    /// Longest translation of one sentence, in tokens (default: the model's max_length).
    #[arg(long, value_parser = at_least_one)]
    pub max_new_tokens: Option<usize>,
    /// Shortest translation of one sentence, in tokens.
    #[arg(long)]
    pub min_new_tokens: Option<usize>,
    /// Padded source tokens × beams per batch; sentences are grouped by length up to this budget.
    #[arg(long, value_parser = at_least_one, default_value_t = tolk::pipeline::translate::DEFAULT_BATCH_TOKENS)]
    pub batch_tokens: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// How `tolk info` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InfoFormat {
    /// Aligned `key: value` lines.
    Text,
    /// One JSON object.
    Json,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Model: a Hub repo id (`owner/name[@revision]`), a folder, or an Argos package.
    #[arg(long, short, default_value = "Helsinki-NLP/opus-mt-da-en")]
    pub model: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = InfoFormat::Text)]
    pub format: InfoFormat,
}

/// How summaries are printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    /// The summary as running text.
    Text,
    /// A briefing note: a one-line headline, then one bullet per sentence.
    Markdown,
    /// One JSON object.
    Json,
}

/// How `tolk bench` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchFormat {
    /// A header naming model, device and machine, then one row per (beams, batch).
    Table,
    /// One JSON object.
    Json,
}

/// How long a summary may be (every command that writes summaries).
#[derive(Debug, Args)]
pub struct BoundArgs {
    /// Longest summary, in sentences (default: 3).
    #[arg(long, conflicts_with = "words")]
    pub sentences: Option<usize>,
    /// Longest summary, in words.
    #[arg(long)]
    pub words: Option<usize>,
}

/// Flags shared by the commands that write summaries.
#[derive(Debug, Args)]
pub struct SummaryArgs {
    #[command(flatten)]
    pub bound: BoundArgs,
    /// Beam size for seq2seq summarizers (default: the model's; chat models decode greedily).
    #[arg(long, value_parser = at_least_one)]
    pub beams: Option<usize>,
    /// Shortest summary, in tokens.
    #[arg(long)]
    pub min_new_tokens: Option<usize>,
    /// Longest summary, in tokens (default: from the bound).
    #[arg(long, value_parser = at_least_one)]
    pub max_new_tokens: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

#[derive(Debug, Args)]
pub struct SummarizeArgs {
    /// Input file (English); `-` or nothing reads standard input.
    pub input: Option<PathBuf>,
    /// Summarizer: a T5-family Hub repo id or folder, or a GGUF chat model (a `.gguf` file, or
    /// `owner/name:file.gguf` on the Hub).
    #[arg(long, short, default_value = crate::cli::DEFAULT_SUMMARY_MODEL)]
    pub model: String,
    #[command(flatten)]
    pub summary: SummaryArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

#[derive(Debug, Args)]
pub struct BriefArgs {
    /// Input file (foreign-language article); `-` or nothing reads standard input.
    pub input: Option<PathBuf>,
    /// Translation model: a Hub repo id, a folder, or an Argos package (`--model`, as in
    /// `tolk translate` and `tolk batch`; `--translate-model` is accepted too).
    #[arg(
        long = "model",
        short = 'm',
        alias = "translate-model",
        default_value = "Helsinki-NLP/opus-mt-da-en"
    )]
    pub translate_model: String,
    /// Summarizer, as `tolk summarize --model`.
    #[arg(long, default_value = crate::cli::DEFAULT_SUMMARY_MODEL)]
    pub summary_model: String,
    /// Beam size for translation (default: the translation model's).
    #[arg(long, value_parser = at_least_one)]
    pub translate_beams: Option<usize>,
    /// Padded source tokens × beams per translation batch.
    #[arg(long, value_parser = at_least_one, default_value_t = tolk::pipeline::translate::DEFAULT_BATCH_TOKENS)]
    pub batch_tokens: usize,
    #[command(flatten)]
    pub summary: SummaryArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Model to measure: a Hub repo id (`owner/name[@revision]`), a folder, or an Argos package
    /// [default: Helsinki-NLP/opus-mt-da-en].
    #[arg(long, short, conflicts_with = "config")]
    pub model: Option<String>,
    /// Measure a Marian with random weights built from this config.json instead (nothing is
    /// downloaded; the weights have the checkpoint's shapes).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Sentences per batch (comma-separated list).
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    pub batch: Vec<usize>,
    /// Source tokens per sentence, end of sequence not counted.
    #[arg(long, default_value_t = 64)]
    pub src_len: usize,
    /// New tokens every sentence must produce (end of sequence is suppressed until then).
    #[arg(long, default_value_t = 64)]
    pub new_tokens: usize,
    /// Beam sizes (comma-separated list; 1 = greedy).
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    pub beams: Vec<usize>,
    /// Untimed runs before the timed ones, per shape.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Timed runs per shape; medians are reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Seed of the source ids (and of the random weights with --config).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = BenchFormat::Table)]
    pub format: BenchFormat,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Input: a JSONL file (one {"id", "text", "lang"?, "title"?} object per line) or a folder
    /// of .txt/.md files (ids are their paths under it).
    pub input: PathBuf,
    /// Output JSONL file; records already in it are skipped (resume).
    #[arg(long, short)]
    pub output: PathBuf,
    /// Remove failed records from the output first and try them again.
    #[arg(long)]
    pub retry_failed: bool,
    #[command(flatten)]
    pub job: JobArgs,
}

/// How documents are translated and summarized: shared by `tolk batch` and `tolk worker`.
#[derive(Debug, Args)]
pub struct JobArgs {
    /// Source language of records without a "lang": an ISO 639-1 code, or auto to detect it
    /// per document (and per paragraph where a document mixes languages).
    #[arg(long, default_value = "auto")]
    pub from: String,
    /// One translation model for every language (Hub repo id, folder or Argos package) instead
    /// of the registry's model for each language.
    #[arg(long, short)]
    pub model: Option<String>,
    /// Summarizer (default: the registry's default summarizer).
    #[arg(long, conflicts_with = "no_summary")]
    pub summary_model: Option<String>,
    /// Translate only; records get "summary": null.
    #[arg(long)]
    pub no_summary: bool,
    #[command(flatten)]
    pub bound: BoundArgs,
    /// Beam size for translation (default: the registry's, else the model's).
    #[arg(long, value_parser = at_least_one)]
    pub beams: Option<usize>,
    /// Longest translation of one sentence, in tokens (default: the model's max_length).
    #[arg(long, value_parser = at_least_one)]
    pub max_new_tokens: Option<usize>,
    /// Padded source tokens × beams per batch; sentences of many documents share the batches.
    #[arg(long, value_parser = at_least_one, default_value_t = tolk::pipeline::translate::DEFAULT_BATCH_TOKENS)]
    pub batch_tokens: usize,
    /// Documents whose sentences are batched together (more: fuller batches, later first output).
    #[arg(long, value_parser = at_least_one, default_value_t = 64)]
    pub window_docs: usize,
    /// A folder of extra model TOMLs (same format as models/; same names override).
    #[arg(long)]
    pub registry: Option<PathBuf>,
    /// Translation models kept loaded at once.
    #[arg(long, default_value_t = 4)]
    pub max_loaded_models: usize,
    /// Write the model's decoded text as it is (no joining of "China ' s" or " ,", no ASCII
    /// for full-width punctuation).
    #[arg(long)]
    pub raw: bool,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Where the shared work lives in Redis.
#[derive(Debug, Args)]
pub struct RedisArgs {
    /// Redis server, e.g. redis://127.0.0.1:6379/0 (redis+unix:///path for a socket).
    #[arg(long, value_name = "URL")]
    pub redis: String,
    /// The stream the documents are queued on.
    #[arg(long, default_value = "tolk:in")]
    pub stream: String,
    /// The stream finished records are added to (`<results>:done` holds them by key).
    #[arg(long, default_value = "tolk:out")]
    pub results: String,
}

#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// Input: a JSONL file or a folder, as `tolk batch` reads it.
    pub input: PathBuf,
    #[command(flatten)]
    pub redis: RedisArgs,
    /// No progress or summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub redis: RedisArgs,
    /// The consumer group the workers share.
    #[arg(long, default_value = "tolk")]
    pub group: String,
    /// This worker's name in the group (default: host name and process id). A restarted worker
    /// with the same name takes up its own unfinished entries first.
    #[arg(long)]
    pub consumer: Option<String>,
    /// Entries another worker has held this long without finishing are taken over.
    #[arg(long, value_parser = at_least_one, default_value_t = 60_000)]
    pub claim_idle_ms: usize,
    /// An entry delivered more often than this goes to the dead-letter stream
    /// (`<stream>:dead`) with its last error, and gets a failed record.
    #[arg(long, value_parser = at_least_one, default_value_t = 3)]
    pub max_deliveries: usize,
    /// Process what is queued (and what dead workers left), then exit.
    #[arg(long)]
    pub once: bool,
    #[command(flatten)]
    pub job: JobArgs,
}

#[derive(Debug, Args)]
pub struct ResultsArgs {
    #[command(flatten)]
    pub redis: RedisArgs,
    /// Output JSONL file; records already in it are skipped (resume).
    #[arg(long, short)]
    pub output: PathBuf,
    /// Keep waiting for new results (until SIGTERM or Ctrl-C).
    #[arg(long)]
    pub follow: bool,
    /// No summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Which task `tolk models --task` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelsTask {
    Translate,
    Summarize,
}

/// How `tolk models` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelsFormat {
    /// One aligned row per model.
    Table,
    /// One JSON array of objects.
    Json,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Only models for this task.
    #[arg(long, value_enum)]
    pub task: Option<ModelsTask>,
    /// Only translators serving this source language (ISO 639-1 or 639-3 code; nb/nn = no),
    /// best first.
    #[arg(long)]
    pub lang: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ModelsFormat::Table)]
    pub format: ModelsFormat,
    /// A folder of extra registry entries (*.toml, same fields as models/); an entry with a
    /// built-in name replaces it.
    #[arg(long, value_name = "DIR")]
    pub registry: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default; 0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0: any free port; the address is printed on stderr).
    #[arg(long, default_value_t = 5000)]
    pub port: u16,
    /// A translation model, loaded at start: `LANG=REF`, or `REF` whose source language the
    /// model's files name. Repeat for more languages. Without it, the registry's model for
    /// each language is loaded on that language's first request.
    #[arg(long, short, value_name = "[LANG=]REF")]
    pub model: Vec<String>,
    /// A folder of extra registry entries (*.toml, same fields as models/).
    #[arg(long, value_name = "DIR", conflicts_with = "model")]
    pub registry: Option<PathBuf>,
    /// The summarizer for /v1/summarize and /v1/brief, loaded at start (default: the
    /// registry's, loaded on the first summary).
    #[arg(long, conflicts_with = "no_summary")]
    pub summary_model: Option<String>,
    /// Write no summaries (/v1/summarize and /v1/brief answer 400).
    #[arg(long)]
    pub no_summary: bool,
    /// A file of API keys, one per line (# comments); every translation request then needs one.
    #[arg(long, value_name = "FILE")]
    pub api_keys: Option<PathBuf>,
    /// Most characters one text may have (LibreTranslate's --char-limit).
    #[arg(long, value_parser = at_least_one)]
    pub char_limit: Option<usize>,
    /// Requests a minute each key (or client address, without keys) may make.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub req_limit: Option<u32>,
    /// Most sentences waiting for the models at once; over it, requests get 429 at once.
    #[arg(long, value_parser = at_least_one, default_value_t = 4096)]
    pub max_queue: usize,
    /// Seconds a request may wait for its answer before it gets 503.
    #[arg(long, value_parser = positive_seconds, default_value_t = 60.0)]
    pub timeout: f64,
    /// Largest request body in bytes.
    #[arg(long, value_parser = at_least_one, default_value_t = 4 << 20)]
    pub max_body_bytes: usize,
    /// Padded source tokens x beams per model batch.
    #[arg(long, value_parser = at_least_one, default_value_t = tolk::pipeline::translate::DEFAULT_BATCH_TOKENS)]
    pub batch_tokens: usize,
    /// Milliseconds a model worker that finds too few sentences to fill a batch waits for more
    /// before it starts (0: start at once).
    #[arg(long, default_value_t = 5)]
    pub batch_wait_ms: u64,
    /// Beam size for translation (default: the registry entry's, else the model's).
    #[arg(long, value_parser = at_least_one)]
    pub beams: Option<usize>,
    /// Longest translation of one sentence, in tokens.
    #[arg(long, value_parser = at_least_one)]
    pub max_new_tokens: Option<usize>,
    /// Translation models kept loaded at once (registry mode).
    #[arg(long, default_value_t = 4)]
    pub max_loaded_models: usize,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// A count that must be at least 1 (a usage error otherwise, exit 2).
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("not a whole number: {e}")),
    }
}

/// A positive, finite number of seconds.
fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        Ok(_) => Err("must be a positive number of seconds".into()),
        Err(e) => Err(format!("not a number: {e}")),
    }
}

/// `--device`, checked when the flags are read.
fn device_arg(s: &str) -> Result<String, String> {
    s.parse::<tolk::device::DeviceSpec>()
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

/// `--dtype`, checked when the flags are read.
fn dtype_arg(s: &str) -> Result<String, String> {
    tolk::device::parse_precision(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_refused_by_the_parser() {
        assert!(at_least_one("0").is_err());
        assert!(at_least_one("x").is_err());
        assert_eq!(at_least_one(" 3"), Ok(3));
        assert!(positive_seconds("0").is_err());
        assert!(positive_seconds("inf").is_err());
        assert!(positive_seconds("NaN").is_err());
        assert_eq!(positive_seconds("1.5"), Ok(1.5));
        assert!(device_arg("tpu").is_err());
        assert_eq!(device_arg("cuda:1").as_deref(), Ok("cuda:1"));
        assert!(dtype_arg("int4").is_err());
        assert_eq!(dtype_arg("bf16").as_deref(), Ok("bf16"));
    }
}
