//! `GET /metrics`: Prometheus text (prometheus-client) of requests, latency, the queue, batches
//! and tokens.
//!
//! | metric | kind | what |
//! |---|---|---|
//! | `tolk_requests_total{endpoint,status}` | counter | answered requests |
//! | `tolk_request_duration_seconds{endpoint}` | histogram | time to answer |
//! | `tolk_queue_sentences` | gauge | sentences waiting or running, all models |
//! | `tolk_batch_sentences` | histogram | sentences per model batch |
//! | `tolk_batch_duration_seconds` | histogram | time per model batch |
//! | `tolk_source_tokens_total`, `tolk_generated_tokens_total` | counter | model work (`rate()` of the second is tokens/s) |
//! | `tolk_generated_tokens_per_second` | gauge | the last batch's speed |
//! | `tolk_skipped_sentences_total` | counter | sentences dropped unrun (client gone, deadline passed) |
//! | `tolk_worker_panics_total` | counter | model panics (each restarted its worker) |

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::queue::{BatchReport, Depth};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

type HistogramFamily = Family<EndpointLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    queue: Gauge,
    batch_sentences: Histogram,
    batch_seconds: Histogram,
    source_tokens: Counter,
    generated_tokens: Counter,
    tokens_per_second: Gauge<f64, AtomicU64>,
    skipped: Counter,
    panics: Counter,
    depth: Arc<Depth>,
}

impl Metrics {
    /// Metrics whose queue gauge reads `depth`.
    pub fn new(depth: Arc<Depth>) -> Metrics {
        let mut registry = Registry::with_prefix("tolk");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("requests", "HTTP requests answered", requests.clone());
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "request_duration_seconds",
            "Time to answer a request",
            latency.clone(),
        );
        let queue = Gauge::default();
        registry.register(
            "queue_sentences",
            "Sentences waiting or being translated",
            queue.clone(),
        );
        let batch_sentences = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "batch_sentences",
            "Sentences per model batch",
            batch_sentences.clone(),
        );
        let batch_seconds = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register(
            "batch_duration_seconds",
            "Time per model batch",
            batch_seconds.clone(),
        );
        let source_tokens = Counter::default();
        registry.register(
            "source_tokens",
            "Source tokens encoded",
            source_tokens.clone(),
        );
        let generated_tokens = Counter::default();
        registry.register(
            "generated_tokens",
            "Tokens generated",
            generated_tokens.clone(),
        );
        let tokens_per_second = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "generated_tokens_per_second",
            "Generated tokens per second of the last batch",
            tokens_per_second.clone(),
        );
        let skipped = Counter::default();
        registry.register(
            "skipped_sentences",
            "Sentences dropped before running: their client left or their deadline passed",
            skipped.clone(),
        );
        let panics = Counter::default();
        registry.register(
            "worker_panics",
            "Model panics; each failed its batch and restarted its worker",
            panics.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            queue,
            batch_sentences,
            batch_seconds,
            source_tokens,
            generated_tokens,
            tokens_per_second,
            skipped,
            panics,
            depth,
        }
    }

    /// One answered request.
    pub fn request(&self, endpoint: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.to_string(),
            })
            .observe(seconds);
    }

    /// One model batch (called on the worker thread).
    pub fn batch(&self, r: &BatchReport) {
        self.skipped.inc_by(r.skipped as u64);
        if r.panicked {
            self.panics.inc();
        }
        if r.sentences == 0 {
            return;
        }
        self.batch_sentences.observe(r.sentences as f64);
        self.batch_seconds.observe(r.seconds);
        self.source_tokens.inc_by(r.counts.source_tokens as u64);
        self.generated_tokens
            .inc_by(r.counts.generated_tokens as u64);
        if r.seconds > 0.0 {
            self.tokens_per_second
                .set(r.counts.generated_tokens as f64 / r.seconds);
        }
    }

    /// Work done outside the translation queues (summaries).
    pub fn tokens(&self, source: usize, generated: usize) {
        self.source_tokens.inc_by(source as u64);
        self.generated_tokens.inc_by(generated as u64);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.queue.set(self.depth.current() as i64);
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::translate::TokenCounts;

    #[test]
    fn requests_batches_and_tokens_show_in_the_text() {
        let m = Metrics::new(Depth::new(10));
        m.request("/translate", 200, 0.02);
        m.request("/translate", 400, 0.001);
        m.batch(&BatchReport {
            sentences: 3,
            skipped: 1,
            seconds: 0.5,
            counts: TokenCounts {
                source_tokens: 30,
                generated_tokens: 40,
            },
            panicked: false,
        });
        let text = m.render();
        assert!(
            text.contains(r#"tolk_requests_total{endpoint="/translate",status="200"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"tolk_requests_total{endpoint="/translate",status="400"} 1"#));
        assert!(text.contains("tolk_generated_tokens_total 40"));
        assert!(text.contains("tolk_skipped_sentences_total 1"));
        assert!(text.contains("tolk_generated_tokens_per_second 80"));
        assert!(text.contains("tolk_batch_sentences_count 1"));
        assert!(text.contains("tolk_queue_sentences 0"));
        assert!(
            text.contains(r#"tolk_request_duration_seconds_count{endpoint="/translate"} 2"#),
            "{text}"
        );
    }
}
