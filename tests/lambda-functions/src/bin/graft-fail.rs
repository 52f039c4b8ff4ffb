//! Always fails with errorType `InvoiceNotFound` (what a function's own error looks like).
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let id = event
        .payload
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    Err(Diagnostic {
        error_type: "InvoiceNotFound".into(),
        error_message: format!("no invoice {id}"),
    })
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(handle)).await
}
