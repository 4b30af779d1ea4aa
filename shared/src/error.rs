//! Stable error types for the Lambda Runtime API (what a Step Functions `Catch` or an alarm reads), and the init error.

use std::fmt::Display;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use lambda_runtime::Diagnostic;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The event is not the shape the function handles (including a payload that is not JSON of the
/// expected type). Retrying it cannot help.
pub const INVALID_EVENT: &str = "Tollgate.InvalidEvent";
/// The function's settings are missing or wrong: fix the stack's parameters.
pub const CONFIGURATION_ERROR: &str = "Tollgate.ConfigurationError";
/// Tollgate's state table could not be read or written.
pub const STATE_ERROR: &str = "Tollgate.StateError";
/// An AWS call failed (after its retries).
pub const AWS_ERROR: &str = "Tollgate.AwsError";
/// A call to GitHub failed (rate limit, 5xx, network).
pub const GITHUB_ERROR: &str = "Tollgate.GitHubError";
/// Another account could not be read (no role, or the role could not be assumed).
pub const CROSS_ACCOUNT_ERROR: &str = "Tollgate.CrossAccountError";

/// The longest `errorMessage` Tollgate sends to the Runtime API: enough for any message it
/// writes, and a bound on what an oversized input can make it echo.
pub const ERROR_MESSAGE_MAX_BYTES: usize = 4096;

/// A [`Diagnostic`] with a stable `error_type` and the error's text, cut to
/// [`ERROR_MESSAGE_MAX_BYTES`].
pub fn diagnostic(error_type: &str, message: &impl Display) -> Diagnostic {
    Diagnostic {
        error_type: error_type.to_string(),
        error_message: crate::text::truncate(&message.to_string(), ERROR_MESSAGE_MAX_BYTES),
    }
}

/// Reads an event payload (taken by the handler as a `serde_json::Value`) into `T`; a payload of
/// another shape is a [`INVALID_EVENT`] diagnostic, never the runtime's own Rust type name.
pub fn parse_event<T: DeserializeOwned>(payload: Value, expected: &str) -> Result<T, Diagnostic> {
    serde_json::from_value(payload)
        .map_err(|e| diagnostic(INVALID_EVENT, &format!("the event is not {expected}: {e}")))
}

/// The Runtime API path of the init error.
pub const INIT_ERROR_PATH: &str = "/2018-06-01/runtime/init/error";

/// Posts `diagnostic` to the Lambda Runtime API at `runtime_api` (`host:port`, as in
/// `AWS_LAMBDA_RUNTIME_API`) as the init error, with its type in the
/// `Lambda-Runtime-Function-Error-Type` header. Returns the HTTP status the API answered.
pub fn post_init_error(runtime_api: &str, diagnostic: &Diagnostic) -> std::io::Result<u16> {
    let body = serde_json::to_vec(diagnostic).map_err(std::io::Error::other)?;
    let mut stream = TcpStream::connect(runtime_api)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let head = format!(
        "POST {INIT_ERROR_PATH} HTTP/1.1\r\nHost: {runtime_api}\r\nContent-Type: application/json\r\n\
         Lambda-Runtime-Function-Error-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        header_safe(&diagnostic.error_type),
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&body)?;
    stream.flush()?;
    let mut answer = Vec::new();
    // The status line is enough; a peer that keeps the connection open ends with the timeout.
    let mut chunk = [0u8; 512];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {text:.80}")))
}

fn header_safe(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .collect()
}

/// Ends a function that cannot start: logs the problem as one line, reports it to the Runtime
/// API as the init error (when `AWS_LAMBDA_RUNTIME_API` is set), and exits with status 1, so
/// Lambda (and the local sandbox) shows `errorType` and the message, never a Rust debug dump.
pub fn init_failed(diagnostic: Diagnostic) -> ! {
    tracing::error!(
        error_type = %diagnostic.error_type,
        problem = %diagnostic.error_message,
        "the function cannot start"
    );
    match std::env::var("AWS_LAMBDA_RUNTIME_API") {
        Ok(api) if !api.is_empty() => {
            if let Err(e) = post_init_error(&api, &diagnostic) {
                eprintln!(
                    "could not report the init error to the Lambda Runtime API at {api}: {e}"
                );
            }
        }
        _ => eprintln!("{}: {}", diagnostic.error_type, diagnostic.error_message),
    }
    std::process::exit(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_payload_of_the_wrong_shape_is_an_invalid_event_not_a_rust_type() {
        #[derive(serde::Deserialize, Debug)]
        struct Wanted {
            #[allow(dead_code)]
            detail: String,
        }
        let err = parse_event::<Wanted>(serde_json::json!({}), "an EventBridge event").unwrap_err();
        assert_eq!(err.error_type, INVALID_EVENT);
        assert!(
            err.error_message.contains("an EventBridge event")
                && err.error_message.contains("detail"),
            "{}",
            err.error_message
        );
    }

    #[test]
    fn a_diagnostic_message_is_cut_to_its_bound() {
        let d = diagnostic(INVALID_EVENT, &"x".repeat(300_000));
        assert!(d.error_message.len() <= ERROR_MESSAGE_MAX_BYTES);
    }

    #[test]
    fn init_error_is_posted_with_the_stable_type_header_and_the_diagnostic_body() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = conn.read(&mut buf).unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if body.len() >= len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            conn.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            String::from_utf8(request).unwrap()
        });
        let status = post_init_error(
            &addr,
            &diagnostic(CONFIGURATION_ERROR, &"TABLE_NAME is not set"),
        )
        .unwrap();
        let request = server.join().unwrap();
        assert_eq!(status, 202);
        assert!(
            request.starts_with(&format!("POST {INIT_ERROR_PATH} HTTP/1.1\r\n")),
            "{request}"
        );
        assert!(
            request.contains(
                "\r\nLambda-Runtime-Function-Error-Type: Tollgate.ConfigurationError\r\n"
            ),
            "{request}"
        );
        let body: Value = serde_json::from_str(request.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"errorType": "Tollgate.ConfigurationError", "errorMessage": "TABLE_NAME is not set"})
        );
    }
}
