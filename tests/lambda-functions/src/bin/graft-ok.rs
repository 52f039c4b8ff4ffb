//! Succeeds: answers `{"greeting": "hello <name>", "echo": <payload>}`. With `{"size": N}` it
//! also returns a `blob` of N bytes (large responses).
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let payload = event.payload;
    let name = payload
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("world")
        .to_string();
    let mut answer = json!({"greeting": format!("hello {name}"), "echo": payload});
    if let Some(size) = answer["echo"].get("size").and_then(Value::as_u64) {
        answer["blob"] = Value::String("x".repeat(size as usize));
    }
    Ok(answer)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
