//! `tolk serve`: translation and briefings over HTTP.
//!
//! Two APIs on one port:
//! - [`libre`]: LibreTranslate's (`/translate`, `/detect`, `/languages`, `/frontend/settings`),
//!   field for field, so existing clients and plug-ins work unchanged;
//! - [`v1`]: tolk's own (`/v1/translate`, `/v1/summarize`, `/v1/brief` answer with the JSON of the
//!   CLI's `--format json`), plus `/health` and `/metrics`.
//!
//! Requests never run a model themselves: their sentences go to the queue of one model worker
//! per model ([`queue`]), which batches sentences from all requests together; the summarizer has
//! a worker of its own ([`summary`]). HTTP is axum on tokio; tower-http adds tracing and turns a
//! handler panic into a 500 with a JSON message. SIGTERM or Ctrl-C stops accepting connections,
//! lets accepted requests finish, lets the workers finish their queues, and returns.

pub mod body;
pub mod html;
pub mod keys;
pub mod libre;
pub mod metrics;
pub mod pool;
pub mod queue;
pub mod summary;
pub mod v1;
pub mod work;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::{Error, Result};
use body::ApiError;
use keys::Gate;
use metrics::Metrics;
use pool::Pool;
use summary::Summarizer;

/// Limits on what one request may ask.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Characters one text may have (`--char-limit`); `None`: no limit.
    pub char_limit: Option<usize>,
    /// Bytes one request body may have.
    pub body_bytes: usize,
    /// How long a request may wait for its answer.
    pub timeout: Duration,
}

/// Everything a running server shares between requests.
pub struct App {
    pub pool: Pool,
    pub summarizer: Option<Summarizer>,
    #[cfg(feature = "detect")]
    pub detector: crate::detect::Detector,
    pub gate: Gate,
    pub metrics: Arc<Metrics>,
    /// Sentences waiting in all queues.
    pub depth: Arc<queue::Depth>,
    pub limits: Limits,
}

impl App {
    /// When a request that starts now must be answered.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.limits.timeout
    }

    /// Sentences waiting or running now, all models.
    pub fn metrics_depth(&self) -> usize {
        self.depth.current()
    }

    /// The language of `text` and the confidence (0..=1), when it can be told.
    pub fn detect(&self, text: &str) -> std::result::Result<Option<(String, f64)>, ApiError> {
        #[cfg(feature = "detect")]
        {
            Ok(self
                .detector
                .detect(text)
                .map(|d| (d.lang.to_string(), d.confidence)))
        }
        #[cfg(not(feature = "detect"))]
        {
            let _ = text;
            Err(ApiError::bad(
                "this tolk was built without language detection (the `detect` feature); give source",
            ))
        }
    }
}

/// The router of both APIs over `app`.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/translate", post(libre::translate))
        .route("/detect", post(libre::detect))
        .route("/languages", get(libre::languages).post(libre::languages))
        .route("/frontend/settings", get(libre::settings))
        .route("/v1/translate", post(v1::translate))
        .route("/v1/summarize", post(v1::summarize))
        .route("/v1/brief", post(v1::brief))
        .route("/health", get(v1::health))
        .route("/metrics", get(v1::metrics))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            track,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(app)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "Not Found: no such endpoint (see GET /languages, POST /translate, POST /v1/translate)",
    )
}

/// A handler panicked: the client gets a 500 with a message, the server goes on.
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal(
        "The server hit an internal error while answering this request; it was logged",
    )
    .into_response()
}

/// Count and time every request by its route.
async fn track(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "other".to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    app.metrics.request(
        &endpoint,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Serve `app` on `listener` until SIGTERM or Ctrl-C, then finish what was accepted and stop
/// the workers. A model named at start that fails to load stops the server with its error.
pub async fn serve(listener: tokio::net::TcpListener, app: Arc<App>) -> Result<()> {
    let (fail_tx, mut fail_rx) = tokio::sync::watch::channel::<Option<String>>(None);
    let watcher = {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            loop {
                match app.pool.readiness() {
                    Ok(true) => {
                        tracing::info!("models loaded; ready");
                        return;
                    }
                    Ok(false) => tokio::time::sleep(Duration::from_millis(50)).await,
                    Err(e) => {
                        let _ = fail_tx.send(Some(e));
                        return;
                    }
                }
            }
        })
    };
    let service = router(Arc::clone(&app)).into_make_service_with_connect_info::<SocketAddr>();
    let mut failed_rx = fail_rx.clone();
    let served = axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = shutdown_signal() => tracing::info!("shutting down: finishing accepted requests"),
                // The watcher drops its sender once the models are loaded: then only a signal stops us.
                _ = async {
                    if failed_rx.wait_for(|f| f.is_some()).await.is_err() {
                        std::future::pending::<()>().await;
                    }
                } => {}
            }
        })
        .await;
    watcher.abort();
    let pool_app = Arc::clone(&app);
    // Workers finish their queues on their own threads; wait for them off the async runtime.
    let _ = tokio::task::spawn_blocking(move || {
        pool_app.pool.shutdown();
        if let Some(s) = &pool_app.summarizer {
            s.shutdown();
        }
    })
    .await;
    served.map_err(|source| Error::Io {
        context: "the HTTP server failed".into(),
        source,
    })?;
    let failure = fail_rx.borrow_and_update().clone();
    match failure {
        Some(e) => Err(Error::InvalidArgument(format!("{e}; the server stopped"))),
        None => Ok(()),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
