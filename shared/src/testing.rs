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
