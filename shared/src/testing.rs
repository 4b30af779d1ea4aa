//! Test helpers shared by the workspace's tests: AWS-shaped HTTP errors and job events.

pub use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use serde_json::{Value, json};

/// The retry policy for mocked SDK clients: AWS's standard mode with 3 attempts and a 1 ms
/// backoff, so retry tests exercise real retries without waiting.
pub fn fast_retries() -> aws_smithy_types::retry::RetryConfig {
    aws_smithy_types::retry::RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(std::time::Duration::from_millis(1))
}

/// An error response as AWS's Smithy RPC v2 CBOR services (AWS Health, CloudWatch) send it: an
/// HTTP status, `smithy-protocol: rpc-v2-cbor`, and a CBOR map `{"__type", "message"}`.
pub fn cbor_error(status: u16, error_type: &str, message: &str) -> Response {
    let mut encoder = aws_smithy_cbor::Encoder::new(Vec::new());
    encoder
        .map(2)
        .str("__type")
        .str(error_type)
        .str("message")
        .str(message);
    let mut response = Response::new(
        StatusCode::try_from(status)
            .unwrap_or_else(|_| StatusCode::try_from(500).expect("500 is a status")),
        SdkBody::from(encoder.into_writer()),
    );
    response
        .headers_mut()
        .insert("smithy-protocol", "rpc-v2-cbor");
    response
        .headers_mut()
        .insert("Content-Type", "application/cbor");
    response
}

/// An error response as AWS's JSON-protocol services (awsJson1_1: CodePipeline, DynamoDB,
/// CodeCommit, SSM) send it: an HTTP status, `x-amzn-ErrorType`, and `{"__type", "message"}`.
pub fn aws_json_error(status: u16, error_type: &str, message: &str) -> Response {
    let body = json!({ "__type": error_type, "message": message }).to_string();
    let mut response = Response::new(
        StatusCode::try_from(status)
            .unwrap_or_else(|_| StatusCode::try_from(500).expect("500 is a status")),
        SdkBody::from(body),
    );
    response
        .headers_mut()
        .insert("x-amzn-ErrorType", error_type.to_string());
    response
        .headers_mut()
        .insert("Content-Type", "application/x-amz-json-1.1");
    response
}

/// An error response as AWS's query-protocol services (CloudFormation, STS) send it: XML
/// `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`.
pub fn aws_query_error(status: u16, code: &str, message: &str) -> Response {
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    let body = format!(
        "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\"><Error><Type>{kind}</Type>\
         <Code>{code}</Code><Message>{message}</Message></Error>\
         <RequestId>5ccc7dcd-744c-11e5-be70-example</RequestId></ErrorResponse>"
    );
    let mut response = Response::new(
        StatusCode::try_from(status)
            .unwrap_or_else(|_| StatusCode::try_from(500).expect("500 is a status")),
        SdkBody::from(body),
    );
    response.headers_mut().insert("Content-Type", "text/xml");
    response
}

/// A CodePipeline Invoke action event, shaped as AWS documents it, with fake artifact credentials.
pub fn job_event(job_id: &str, user_parameters: Option<&str>) -> Value {
    let mut configuration = json!({ "FunctionName": "tollgate-test" });
    if let Some(params) = user_parameters {
        configuration["UserParameters"] = json!(params);
    }
    json!({
        "CodePipeline.job": {
            "id": job_id,
            "accountId": "111111111111",
            "data": {
                "actionConfiguration": { "configuration": configuration },
                "inputArtifacts": [],
                "outputArtifacts": [],
                "artifactCredentials": {
                    "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
                    "secretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                    "sessionToken": "FwoGZXIvYXdzEXAMPLESESSIONTOKEN",
                    "expirationTime": 1_700_000_000_000u64
                }
            }
        }
    })
}

/// What a function binary did when started against a stand-in Lambda Runtime API that records
/// init errors.
#[derive(Debug)]
pub struct InitRun {
    /// The process's exit code (`None`: killed by a signal).
    pub exit_code: Option<i32>,
    /// The `Lambda-Runtime-Function-Error-Type` header of the init error, if one was posted.
    pub error_type_header: Option<String>,
    /// The init error's JSON body, if one was posted.
    pub body: Option<Value>,
    /// The process's standard error.
    pub stderr: String,
}

/// Starts `binary` with only `env` (plus `PATH`) and `AWS_LAMBDA_RUNTIME_API` pointing at a
/// stand-in that answers `/runtime/init/error` with 202, and reports what the process did. For a
/// binary expected to fail at start-up; it is killed after 30 seconds.
pub fn run_until_init_error(binary: &str, env: &[(&str, &str)]) -> InitRun {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    listener.set_nonblocking(true).expect("nonblocking");
    let mut child = std::process::Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &addr)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the binary");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut posted: Option<(String, Value)> = None;
    let exit = loop {
        if let Ok((mut conn, _)) = listener.accept() {
            conn.set_nonblocking(false).ok();
            conn.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .ok();
            let mut request = Vec::new();
            let mut buf = [0u8; 8192];
            loop {
                let n = conn.read(&mut buf).unwrap_or(0);
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                let complete = text.split_once("\r\n\r\n").is_some_and(|(head, body)| {
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    body.len() >= len
                });
                if complete || n == 0 {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&request).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n")
                && head.contains("/runtime/init/error")
            {
                let header = head.lines().find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("lambda-runtime-function-error-type")
                        .then(|| value.trim().to_string())
                });
                posted = Some((
                    header.unwrap_or_default(),
                    serde_json::from_str(body).unwrap_or(Value::Null),
                ));
            }
            let _ = conn.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
        }
        if let Ok(Some(status)) = child.try_wait() {
            break status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    let _ = child.wait();
    InitRun {
        exit_code: exit,
        error_type_header: posted.as_ref().map(|(h, _)| h.clone()),
        body: posted.map(|(_, b)| b),
        stderr,
    }
}

/// What a function binary answered to one invocation from a stand-in Lambda Runtime API.
#[derive(Debug)]
pub struct Invocation {
    /// `response` or `error`: the last segment of the path the function posted to.
    pub outcome: String,
    /// The `Lambda-Runtime-Function-Error-Type` header, when the function sent one.
    pub error_type_header: Option<String>,
    /// The posted body, as JSON.
    pub body: Value,
}

/// Starts `binary` with only `env` (plus `PATH` and the runtime's own variables) against a
/// stand-in Lambda Runtime API, gives it `event` as its one invocation, and returns what it
/// posted back. The process is killed afterwards (or after 30 seconds without an answer).
pub fn invoke_once(binary: &str, env: &[(&str, &str)], event: &Value) -> Option<Invocation> {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    listener.set_nonblocking(true).expect("nonblocking");
    let mut child = std::process::Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "test-function")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the binary");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let body = serde_json::to_vec(event).expect("event JSON");
    let mut served = false;
    let mut answer = None;
    while answer.is_none() && std::time::Instant::now() < deadline {
        let Ok((mut conn, _)) = listener.accept() else {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
            continue;
        };
        conn.set_nonblocking(false).ok();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .ok();
        let mut request = Vec::new();
        let mut buf = [0u8; 8192];
        let (head, payload) = loop {
            let n = conn.read(&mut buf).unwrap_or(0);
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).to_string();
            if let Some((head, payload)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                if payload.len() >= len || n == 0 {
                    break (head.to_string(), payload.to_string());
                }
            } else if n == 0 {
                break (text, String::new());
            }
        };
        let request_line = head.lines().next().unwrap_or_default().to_string();
        if request_line.contains("/invocation/next") {
            if served {
                // Like Lambda: hold the next request; the caller kills the process.
                continue;
            }
            served = true;
            let deadline_ms = crate::now_ms() + 60_000;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: req-1\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline_ms}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:test-function\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body);
        } else {
            let _ = conn.write_all(
                b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            if request_line.contains("/invocation/req-1/") {
                let outcome = request_line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|path| path.rsplit('/').next())
                    .unwrap_or_default()
                    .to_string();
                let error_type_header = head.lines().find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("lambda-runtime-function-error-type")
                        .then(|| value.trim().to_string())
                });
                answer = Some(Invocation {
                    outcome,
                    error_type_header,
                    body: serde_json::from_str(&payload).unwrap_or(Value::Null),
                });
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    answer
}
