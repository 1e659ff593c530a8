//! Logging through `tracing`: human-readable by default, JSON with
//! `LOG_FORMAT=json`. `RUST_LOG` filters as usual (default `info`). Logs of
//! the `log` crate (sqlx) and of librdkafka land here too.
//!
//! Optional OpenTelemetry export: when `OTEL_EXPORTER_OTLP_ENDPOINT` is set
//! (e.g. `http://otel-collector:4318`), spans are sent over OTLP/HTTP
//! (protobuf) in batches; when it is not set, nothing is exported and no
//! exporter is built. The exporter reads the standard `OTEL_EXPORTER_OTLP_*`
//! variables. Spans carry the saga's W3C trace id (see [`link_to_trace`]).

use crate::config::LogFormat;
use crate::trace::TraceContext;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider,
};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

pub const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Keeps the exporter alive; dropping it flushes the spans still queued.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber once; later calls (tests) change nothing.
pub fn init(service: &'static str, format: LogFormat) -> Telemetry {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,actix_server=warn"));
    // Colours only on a terminal: log files stay greppable.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let (text, json) = match format {
        LogFormat::Text => (Some(tracing_subscriber::fmt::layer().with_ansi(ansi)), None),
        LogFormat::Json => (
            None,
            Some(tracing_subscriber::fmt::layer().json().flatten_event(true)),
        ),
    };
    let provider = std::env::var(OTLP_ENDPOINT)
        .ok()
        .filter(|endpoint| !endpoint.trim().is_empty())
        .and_then(|_| match otlp_provider(service) {
            Ok(provider) => Some(provider),
            Err(e) => {
                eprintln!("{OTLP_ENDPOINT} is set but the OTLP exporter cannot be built: {e}");
                None
            }
        });
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service)));
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json)
        .with(otel)
        .try_init()
        .is_ok();
    if installed && provider.is_some() {
        tracing::info!(endpoint = %std::env::var(OTLP_ENDPOINT).unwrap_or_default(), "exporting spans over OTLP/HTTP");
    }
    Telemetry {
        provider: provider.filter(|_| installed),
    }
}

fn otlp_provider(
    service: &'static str,
) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service)
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// Makes `span` part of the saga's trace when spans are exported: its
/// OpenTelemetry parent is `trace` (same trace id as the `traceparent` on the
/// records and in the logs). Without an exporter this does nothing.
pub fn link_to_trace(span: &tracing::Span, trace: &TraceContext) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let (Ok(trace_id), Ok(span_id)) = (
        TraceId::from_hex(&trace.trace_id),
        SpanId::from_hex(&trace.span_id),
    ) else {
        return;
    };
    let parent = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
}
