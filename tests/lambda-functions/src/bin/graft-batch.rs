//! Looks users up like a sloppy batch endpoint. The payload is a list of ids (the answer is a
//! list of users), `{"ids": [...]}` (the answer is `{"users": [...]}`) or one id (the answer
//! is that user). Lists come back reversed, with the first user repeated, user "4242" that
//! nobody asked for, and no user for ids of 900 and above; ids come back as strings. When
//! `GRAFT_CALL_LOG` names a file, every payload is appended to it as one JSON line.
use std::io::Write;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

fn text(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn user(id: &str) -> Value {
    json!({"id": id, "name": format!("user {id}")})
}

fn users(ids: &[Value]) -> Value {
    let mut items: Vec<Value> = ids
        .iter()
        .rev()
        .map(text)
        .filter(|id| id.parse::<i64>().map_or(true, |n| n < 900))
        .map(|id| user(&id))
        .collect();
    if let Some(first) = items.first().cloned() {
        items.push(first);
    }
    items.push(user("4242"));
    Value::Array(items)
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let payload = event.payload;
    if let Ok(path) = std::env::var("GRAFT_CALL_LOG") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        file.write_all(format!("{payload}\n").as_bytes())?;
    }
    Ok(match &payload {
        Value::Array(ids) => users(ids),
        Value::Object(map) => match map.get("ids") {
            Some(Value::Array(ids)) => json!({"users": users(ids)}),
            _ => return Err("expected {\"ids\": [...]}".into()),
        },
        id => user(&text(id)),
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
