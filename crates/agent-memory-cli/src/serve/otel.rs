//! OpenTelemetry traces (feature `otel`): every request span (`request`, with `method`,
//! `path`, `tenant`, the response's `http.response.status_code`, and the error status for a
//! 5xx) exported over OTLP/HTTP (protobuf) to
//! `--otel-endpoint` / `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` is appended).
//!
//! Spans are batched on the SDK's own thread; the HTTP requests go through this crate's
//! reqwest client on the server's Tokio runtime ([`RuntimeHttpClient`]), so no second HTTP
//! stack is built in. [`Tracing::shutdown`] flushes what is pending.

use std::fmt;

use bytes::Bytes;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// The `service.name` of every span.
const SERVICE_NAME: &str = "agent-memory";

/// The tracer provider behind the `tracing` layer.
pub(crate) struct Tracing {
    provider: SdkTracerProvider,
}

impl Tracing {
    /// Exports to the OTLP/HTTP collector at `endpoint` (its base URL, e.g.
    /// `http://127.0.0.1:4318`); must be called inside the Tokio runtime that will run the
    /// exports.
    pub(crate) fn start(endpoint: &str) -> anyhow::Result<Self> {
        let client = RuntimeHttpClient { client: reqwest::Client::new(), runtime: tokio::runtime::Handle::current() };
        let exporter = SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .build()
            .map_err(|error| anyhow::anyhow!("cannot build the OTLP exporter for {endpoint}: {error}"))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name(SERVICE_NAME).build())
            .build();
        Ok(Self { provider })
    }

    /// The `tracing` layer that turns spans into OpenTelemetry spans.
    pub(crate) fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(self.provider.tracer(SERVICE_NAME))
    }

    /// Exports what is pending and stops (blocking: call it off the async workers).
    pub(crate) fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "OpenTelemetry shutdown");
        }
    }
}

/// An OTLP HTTP client that runs each request on the server's runtime, so it works from
/// the SDK's batch thread (which has no runtime of its own).
struct RuntimeHttpClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl fmt::Debug for RuntimeHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RuntimeHttpClient")
    }
}

#[async_trait::async_trait]
impl HttpClient for RuntimeHttpClient {
    async fn send_bytes(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let (parts, body) = request.into_parts();
        let call = async move {
            let response = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .timeout(std::time::Duration::from_secs(10))
                .send()
                .await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            let mut answer = http::Response::new(body);
            *answer.status_mut() = status;
            *answer.headers_mut() = headers;
            Ok::<_, reqwest::Error>(answer)
        };
        Ok(self.runtime.spawn(call).await??)
    }
}
