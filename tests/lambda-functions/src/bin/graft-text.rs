//! Answers bytes that are not JSON (a streamed HTML page), as a misbehaving function might.
use lambda_runtime::{Error, LambdaEvent, StreamResponse, service_fn};
use serde_json::Value;

async fn handle(
    _: LambdaEvent<Value>,
) -> Result<
    StreamResponse<futures_util::stream::Iter<std::vec::IntoIter<Result<&'static str, Error>>>>,
    Error,
> {
    Ok(StreamResponse::from(futures_util::stream::iter(vec![Ok(
        "<html>not json</html>",
    )])))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
