//! Which operation a request runs, and of which type, decided before execution: GET may run
//! queries only, and metrics are labelled by operation type.
//!
//! The engine's plan cache keeps parsed documents keyed by their text, so a repeated query
//! is never parsed again there; a small cache here keeps the server from parsing it either.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{PoisonError, RwLock};

use async_graphql::parser::types::OperationType;

use crate::error::{AppError, ErrorCode};

/// Documents longer than this are not cached (they are rare and would pin memory).
const MAX_CACHED_QUERY: usize = 16 * 1024;
/// The cache is emptied when it holds this many documents.
const MAX_ENTRIES: usize = 4096;

struct Entry {
    query: String,
    operation_name: Option<String>,
    ty: OperationType,
}

static CACHE: RwLock<Option<HashMap<u64, Entry>>> = RwLock::new(None);

/// The type of the operation `request` selects, or the request error that prevents running
/// it (parse failure, unknown or missing operation name). A document parsed here stays in
/// the request, so the engine does not parse it again.
pub fn operation_type(request: &mut async_graphql::Request) -> Result<OperationType, AppError> {
    let key = {
        let mut hasher = DefaultHasher::new();
        request.query.hash(&mut hasher);
        request.operation_name.hash(&mut hasher);
        hasher.finish()
    };
    if let Some(ty) = cached(key, request) {
        return Ok(ty);
    }
    let name = request.operation_name.clone();
    let document = request
        .parsed_query()
        .map_err(|e| AppError::new(ErrorCode::ParseFailed, e.message))?;
    let ty = select(document, name.as_deref())?;
    if request.query.len() <= MAX_CACHED_QUERY {
        let mut cache = CACHE.write().unwrap_or_else(PoisonError::into_inner);
        let map = cache.get_or_insert_with(HashMap::new);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(
            key,
            Entry {
                query: request.query.clone(),
                operation_name: name,
                ty,
            },
        );
    }
    Ok(ty)
}

fn cached(key: u64, request: &async_graphql::Request) -> Option<OperationType> {
    let cache = CACHE.read().unwrap_or_else(PoisonError::into_inner);
    let entry = cache.as_ref()?.get(&key)?;
    (entry.query == request.query && entry.operation_name == request.operation_name)
        .then_some(entry.ty)
}

/// The selected operation's type, with the engine's selection (the spec's GetOperation).
fn select(
    document: &async_graphql::parser::types::ExecutableDocument,
    name: Option<&str>,
) -> Result<OperationType, AppError> {
    use engine::plan::compile::{NoOperation, select_operation};
    match select_operation(document, name) {
        Ok(op) => Ok(op.node.ty),
        Err(NoOperation::Unknown(name)) => Err(AppError::new(
            ErrorCode::OperationNotFound,
            format!("unknown operation named \"{name}\""),
        )),
        Err(NoOperation::NameRequired) => Err(AppError::new(
            ErrorCode::OperationNameRequired,
            "the document has several operations; choose one with operationName",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(query: &str, name: Option<&str>) -> Result<OperationType, ErrorCode> {
        let mut request = async_graphql::Request::new(query);
        if let Some(name) = name {
            request = request.operation_name(name);
        }
        operation_type(&mut request).map_err(|e| e.code)
    }

    #[test]
    fn operations_are_selected_by_name_and_typed() {
        let doc = "query A { a } mutation B { b }";
        assert_eq!(ty(doc, Some("A")), Ok(OperationType::Query));
        assert_eq!(ty(doc, Some("B")), Ok(OperationType::Mutation));
        // The second answer comes from the cache and must agree.
        assert_eq!(ty(doc, Some("B")), Ok(OperationType::Mutation));
        assert_eq!(ty(doc, Some("C")), Err(ErrorCode::OperationNotFound));
        assert_eq!(ty(doc, None), Err(ErrorCode::OperationNameRequired));
        assert_eq!(ty("mutation M { b }", None), Ok(OperationType::Mutation));
        assert_eq!(ty("{ a }", Some("X")), Err(ErrorCode::OperationNotFound));
        assert_eq!(ty("{ a", None), Err(ErrorCode::ParseFailed));
    }
}
