//! Sleeps `{"ms": N}` milliseconds (default 5000), then answers `{"slept": N}`.
use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let ms = event
        .payload
        .get("ms")
        .and_then(Value::as_u64)
        .unwrap_or(5000);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(json!({"slept": ms}))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
