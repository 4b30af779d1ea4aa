//! GitHub's REST API for the features that call it (approvals, branch-pipelines, dora): an
//! octocrab client over the AWS SDK's own HTTPS connector, path escaping and the token secret.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use bytes::Bytes;
use http::header::{ACCEPT, HeaderValue, USER_AGENT};
use http_body_util::{BodyExt, Full};
use octocrab::service::middleware::{
    auth_header::AuthHeaderLayer, base_uri::BaseUriLayer, extra_headers::ExtraHeadersLayer,
};
use octocrab::{AuthState, OctoBody, Octocrab, OctocrabBuilder};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Why a GitHub client could not be made (never shows the token).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ClientError {
    #[error("the GitHub API URL {url:?} cannot be used: {reason}")]
    ApiUrl { url: String, reason: String },
    #[error("the GitHub token holds characters an HTTP header cannot carry")]
    Token,
    #[error("no HTTPS connector is built in")]
    NoConnector,
}

/// How long a connection to GitHub may take to open, and how long a response may leave a read
/// waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
}

/// `url` if it can be GitHub's API root (`http(s)://host[:port][/path]`, GitHub Enterprise
/// Server's `https://<host>/api/v3` included), without a trailing `/`.
pub fn api_url(url: &str) -> Result<http::Uri, ClientError> {
    let refused = |reason: &str| ClientError::ApiUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let uri: http::Uri = url
        .trim_end_matches('/')
        .parse()
        .map_err(|e: http::uri::InvalidUri| refused(&format!("not a URL ({e})")))?;
    match uri.scheme_str() {
        Some("https" | "http") => {}
        _ => return Err(refused("it must start with https:// (or http://)")),
    }
    if uri.authority().is_none() {
        return Err(refused("it has no host"));
    }
    if uri.query().is_some() {
        return Err(refused("it must not have a query string"));
    }
    Ok(uri)
}

/// An octocrab client of the API at `url` (see [`api_url`]), with `token` as a bearer token when
/// given. Requests go through the HTTPS connector the AWS SDK already links
/// (`aws-smithy-http-client`: rustls on aws-lc-rs), so a function carries one HTTP stack, not a
/// second one for GitHub. No retries: a rate limit or a 5xx comes back as an error for the caller's
/// own retry (EventBridge's, Lambda's).
pub fn client(url: &str, token: Option<&str>, timeouts: Timeouts) -> Result<Octocrab, ClientError> {
    let base = api_url(url)?;
    let authorization = token
        .map(|token| {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| ClientError::Token)?;
            value.set_sensitive(true);
            Ok(value)
        })
        .transpose()?;
    let settings = HttpConnectorSettings::builder()
        .connect_timeout(timeouts.connect)
        .read_timeout(timeouts.read)
        .build();
    let connector = aws_smithy_http_client::default_connector(
        &settings,
        aws_smithy_async::rt::sleep::default_async_sleep(),
    )
    .ok_or(ClientError::NoConnector)?;
    // octocrab adds `x-github-api-version` to every request itself.
    let headers = vec![
        (USER_AGENT, HeaderValue::from_static("tollgate")),
        (
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        ),
    ];
    let built = OctocrabBuilder::new_empty()
        .with_service(SdkConnector(connector))
        .with_layer(&BaseUriLayer::new(base.clone()))
        .with_layer(&ExtraHeadersLayer::new(Arc::new(headers)))
        .with_layer(&AuthHeaderLayer::new(authorization, base.clone(), base))
        .with_auth(AuthState::None)
        .build();
    match built {
        Ok(client) => Ok(client),
        Err(never) => match never {},
    }
}

/// The innermost service of the octocrab client: one request through the AWS SDK's connector,
/// the whole response body read (GitHub's JSON answers are small; the connector's read timeout
/// bounds the wait).
#[derive(Clone)]
struct SdkConnector(SharedHttpConnector);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<http::Request<OctoBody>> for SdkConnector {
    type Response = http::Response<Full<Bytes>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<OctoBody>) -> Self::Future {
        let connector = self.0.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await?.to_bytes();
            let request =
                HttpRequest::try_from(http::Request::from_parts(parts, SdkBody::from(body)))?;
            let response = connector.call(request).await?;
            let mut builder = http::Response::builder().status(response.status().as_u16());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = ByteStream::new(response.into_body())
                .collect()
                .await?
                .into_bytes();
            Ok(builder.body(Full::new(body))?)
        })
    }
}

/// Everything but RFC 3986's unreserved characters and `/`.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// `text` (an `owner/repo`, a branch, a SHA) as a GitHub API path: `/` kept, the rest of what is
/// not unreserved percent-encoded as UTF-8 (`feature/a#b` → `feature/a%23b`).
pub fn path(text: &str) -> String {
    utf8_percent_encode(text, PATH).to_string()
}

/// The GitHub token in a Secrets Manager secret's `SecretString`: the plain string, or the
/// `token` field of a JSON object; `None` when it holds none.
pub fn token_of_secret(text: &str) -> Option<String> {
    let text = text.trim();
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(text) {
        return map
            .get("token")?
            .as_str()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
    }
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_read_from_plain_text_or_a_json_token_field() {
        assert_eq!(token_of_secret(" ghp_abc \n").as_deref(), Some("ghp_abc"));
        assert_eq!(
            token_of_secret(r#"{"token": "ghp_def"}"#).as_deref(),
            Some("ghp_def")
        );
        assert_eq!(token_of_secret(r#"{"other": "x"}"#), None);
        assert_eq!(token_of_secret("  "), None);
    }

    #[test]
    fn github_paths_keep_slashes_and_escape_the_rest() {
        assert_eq!(path("feature/a#b ü"), "feature/a%23b%20%C3%BC");
        assert_eq!(path("octo-org/orders_api.v2~x"), "octo-org/orders_api.v2~x");
        assert_eq!(path("a?b&c=d%"), "a%3Fb%26c%3Dd%25");
    }
}
