//! `tolk serve`: flags into a [`tolk::serve::App`], then the server on a tokio runtime.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tolk::device::{parse_precision, DeviceSpec};
use tolk::hub::HubOptions;
use tolk::jobs::models::{default_summarizer, ModelOptions};
use tolk::pipeline::info::inspect;
use tolk::pipeline::summarize::DecodeOverrides;
use tolk::pipeline::translate::LoadOptions;
use tolk::registry::{is_valid_code, normalize_lang, Registry};
use tolk::serve::keys::{Gate, Keys};
use tolk::serve::metrics::Metrics;
use tolk::serve::pool::{Fixed, Pool};
use tolk::serve::queue::{BatcherOptions, Depth};
use tolk::serve::summary::Summarizer;
use tolk::serve::{App, Limits};

use super::args::ServeArgs;

pub fn run(a: ServeArgs) -> Result<()> {
    let req_limit = match a.req_limit {
        None => None,
        Some(n) => Some(NonZeroU32::new(n).context("--req-limit must be at least 1")?),
    };
    let host: IpAddr = a.host.parse().with_context(|| {
        format!(
            "--host {}: not an IP address (e.g. 127.0.0.1, ::1, 0.0.0.0)",
            a.host
        )
    })?;
    init_logging(a.runtime.quiet);

    let device = a.runtime.device.parse::<DeviceSpec>()?;
    let precision = parse_precision(&a.runtime.dtype)?;
    let mut hub = HubOptions::from_env()?;
    hub.progress = false; // no progress bars from a server
    let registry = match &a.registry {
        Some(dir) => Registry::builtin()?.with_dir(dir)?,
        None => Registry::builtin()?,
    };
    let summary_model = if a.no_summary {
        None
    } else {
        match &a.summary_model {
            Some(m) => Some(m.clone()),
            None => Some(default_summarizer(&registry).context(
                "the registry names no default summarizer; pass --summary-model or --no-summary",
            )?),
        }
    };
    let opts = ModelOptions {
        hub: hub.clone(),
        load: LoadOptions {
            device: device.open()?,
            dtype: precision.dtype,
            int8: precision.int8,
            int8_as_stored: precision.as_stored,
        },
        device,
        translate_model: None,
        summary_model: summary_model.clone(),
        beams: a.beams,
        max_new_tokens: a.max_new_tokens,
        summary: DecodeOverrides::default(),
        max_loaded: a.max_loaded_models.max(1),
        raw: false,
    };
    let gate = Gate::new(
        a.api_keys.as_deref().map(Keys::load).transpose()?,
        req_limit,
    );

    let depth = Depth::new(a.max_queue);
    let metrics = Arc::new(Metrics::new(Arc::clone(&depth)));
    let on_batch = {
        let m = Arc::clone(&metrics);
        Arc::new(move |r: tolk::serve::queue::BatchReport| m.batch(&r))
    };
    let batching = BatcherOptions {
        max_batch_tokens: a.batch_tokens,
        gather: std::time::Duration::from_millis(a.batch_wait_ms),
        on_batch,
    };
    let pool = if a.model.is_empty() {
        Pool::registry(registry, opts.clone(), batching, Arc::clone(&depth))
    } else {
        let fixed = a
            .model
            .iter()
            .map(|m| fixed_model(m, &hub))
            .collect::<Result<Vec<_>>>()?;
        Pool::fixed(&fixed, opts.clone(), batching, Arc::clone(&depth))
    };
    let summarizer =
        summary_model.map(|r| Summarizer::spawn(r, opts.clone(), a.summary_model.is_some()));
    let app = Arc::new(App {
        pool,
        summarizer,
        #[cfg(feature = "detect")]
        detector: tolk::detect::Detector::new(),
        gate,
        metrics,
        depth,
        limits: Limits {
            char_limit: a.char_limit,
            body_bytes: a.max_body_bytes,
            timeout: Duration::from_secs_f64(a.timeout),
        },
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tolk-http")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let addr = SocketAddr::new(host, a.port);
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} (is another server using the port? try --port)")
        })?;
        let bound = listener.local_addr()?;
        eprintln!("tolk serve: listening on http://{bound}");
        tolk::serve::serve(listener, app).await?;
        eprintln!("tolk serve: stopped");
        Ok(())
    })
}

/// `--model [LANG=]REF`: the language given, else the one the model's files name.
fn fixed_model(arg: &str, hub: &HubOptions) -> Result<Fixed> {
    if let Some((lang, reference)) = arg.split_once('=') {
        let lang = normalize_lang(lang.trim());
        if is_valid_code(&lang) && !reference.trim().is_empty() {
            return Ok(Fixed {
                lang,
                reference: reference.trim().to_string(),
            });
        }
    }
    let info = inspect(arg, hub).with_context(|| format!("cannot read model `{arg}`"))?;
    let lang = info.source_lang.with_context(|| {
        format!("model `{arg}` does not say which language it translates from; give it as --model LANG={arg}")
    })?;
    Ok(Fixed {
        lang: normalize_lang(&lang),
        reference: arg.to_string(),
    })
}

/// Request and worker logs on stderr (`RUST_LOG` overrides; `--quiet` keeps warnings only).
fn init_logging(quiet: bool) {
    let default = if quiet {
        "warn"
    } else {
        "info,tower_http=warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
