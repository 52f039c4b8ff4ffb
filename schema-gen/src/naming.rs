//! Naming: the only place that turns upstream names into GraphQL names.
//!
//! Rules (documented in the README): GraphQL names match `[_A-Za-z][_0-9A-Za-z]*`.
//! Type names are PascalCase words; field and argument names keep a valid upstream name as
//! is (so most JSON properties need no mapping) and otherwise replace each run of invalid
//! characters with `_`; operation names are camelCase; enum values are UPPER_SNAKE_CASE.
//! Collisions are resolved by appending 2, 3, ... in the order names are claimed.

use std::collections::HashSet;

/// Names graft's own graph reserves for types.
pub const RESERVED_TYPE_NAMES: &[&str] = &[
    "Query",
    "Mutation",
    "Subscription",
    "String",
    "Int",
    "Float",
    "Boolean",
    "ID",
    "JSON",
    "Int64",
];

/// True when `name` is a valid GraphQL name.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c == '_' || c.is_ascii_alphabetic() => {}
        _ => return false,
    }
    chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Split into alphanumeric words, also at lower→upper case changes (`userID` → `user`, `ID`).
fn words(raw: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut prev: Option<char> = None;
    for c in raw.chars() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev = None;
            continue;
        }
        if let Some(p) = prev {
            let boundary = (p.is_ascii_lowercase() || p.is_ascii_digit()) && c.is_ascii_uppercase();
            if boundary && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        }
        current.push(c);
        prev = Some(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

fn guard_leading_digit(name: String, prefix: &str) -> String {
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("{prefix}{name}")
    } else {
        name
    }
}

/// PascalCase type name: `pet-store` → `PetStore`, `io.k8s.api.core.v1.Pod` → `IoK8sApiCoreV1Pod`.
/// Reserved names get a `Type` suffix (`Query` → `QueryType`).
pub fn type_name(raw: &str) -> String {
    let name: String = words(raw).iter().map(|w| capitalize(w)).collect();
    let name = if name.is_empty() {
        "Type".to_string()
    } else {
        guard_leading_digit(name, "T")
    };
    if RESERVED_TYPE_NAMES.contains(&name.as_str()) {
        format!("{name}Type")
    } else {
        name
    }
}

/// Field or argument name: a valid name is kept as is; otherwise runs of invalid characters
/// become `_` (`@odata.type` → `odata_type`, `2fa` → `_2fa`). `__` prefixes are reserved by
/// GraphQL and lose one underscore.
pub fn field_name(raw: &str) -> String {
    let mut name = if is_valid_name(raw) {
        raw.to_string()
    } else {
        let mut out = String::with_capacity(raw.len());
        for c in raw.chars() {
            if c.is_ascii_alphanumeric() || c == '_' {
                out.push(c);
            } else if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
        }
        let out = out.trim_end_matches('_').to_string();
        if out.is_empty() {
            "value".to_string()
        } else {
            guard_leading_digit(out, "_")
        }
    };
    while name.starts_with("__") {
        name.remove(0);
    }
    name
}

/// camelCase name for an operation: `get-user` → `getUser`, `ListPets` → `listPets`.
pub fn operation_name(raw: &str) -> String {
    let words = words(raw);
    let mut name = String::new();
    for (i, word) in words.iter().enumerate() {
        if i == 0 {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                name.push(first.to_ascii_lowercase());
                name.push_str(chars.as_str());
            }
        } else {
            name.push_str(&capitalize(word));
        }
    }
    if name.is_empty() {
        "operation".to_string()
    } else {
        guard_leading_digit(name, "_")
    }
}

/// UPPER_SNAKE_CASE enum value: `in-progress` → `IN_PROGRESS`, `` → `EMPTY`, `1` → `_1`.
pub fn enum_value(raw: &str) -> String {
    let name = words(raw)
        .iter()
        .map(|w| w.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join("_");
    if name.is_empty() {
        return "EMPTY".to_string();
    }
    guard_leading_digit(name, "_")
}

/// Leading words that mark an operation as a read (a Query field) when its upstream does not
/// say so itself: gRPC method names and Lambda function names use this one list.
pub const READ_VERBS: &[&str] = &[
    "get", "list", "search", "find", "check", "read", "fetch", "lookup", "query", "describe",
    "count",
];

/// True when the first word of `name` is a read verb (`GetUser`, `list_pets`,
/// `get-invoice`, `BatchGetUsers`), as a whole word (`Getaway`, `Checkout` are not).
pub fn is_read_name(name: &str) -> bool {
    let words: Vec<String> = words(name).iter().map(|w| w.to_ascii_lowercase()).collect();
    match words.as_slice() {
        [batch, get, ..] if batch == "batch" && get == "get" => true,
        [first, ..] => READ_VERBS.contains(&first.as_str()),
        [] => false,
    }
}

/// Claims names in order, resolving collisions by appending 2, 3, ...
#[derive(Debug, Default, Clone)]
pub struct Namespace {
    taken: HashSet<String>,
}

impl Namespace {
    pub fn new() -> Self {
        Self::default()
    }

    /// A namespace in which `names` are already taken.
    pub fn with_taken<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        Namespace {
            taken: names.into_iter().map(str::to_string).collect(),
        }
    }

    pub fn is_taken(&self, name: &str) -> bool {
        self.taken.contains(name)
    }

    /// Claims `wanted`, or the first free `wanted2`, `wanted3`, ...
    pub fn claim(&mut self, wanted: &str) -> String {
        if self.taken.insert(wanted.to_string()) {
            return wanted.to_string();
        }
        let mut n = 2usize;
        loop {
            let candidate = format!("{wanted}{n}");
            if self.taken.insert(candidate.clone()) {
                return candidate;
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_are_pascal_case_and_never_reserved() {
        assert_eq!(type_name("pet-store"), "PetStore");
        assert_eq!(type_name("io.k8s.api.core.v1.Pod"), "IoK8sApiCoreV1Pod");
        assert_eq!(type_name("microsoft.graph.user"), "MicrosoftGraphUser");
        assert_eq!(type_name("Query"), "QueryType");
        assert_eq!(type_name("3dModel"), "T3dModel");
        assert_eq!(type_name("***"), "Type");
    }

    #[test]
    fn field_names_keep_valid_names_and_sanitize_the_rest() {
        assert_eq!(field_name("user_id"), "user_id");
        assert_eq!(field_name("@odata.type"), "odata_type");
        assert_eq!(field_name("2fa"), "_2fa");
        assert_eq!(field_name("__typename"), "_typename");
        assert_eq!(field_name("+1"), "_1");
        assert_eq!(field_name("-"), "value");
    }

    #[test]
    fn operation_names_are_camel_case() {
        assert_eq!(operation_name("get-user"), "getUser");
        assert_eq!(operation_name("ListPets"), "listPets");
        assert_eq!(operation_name("repos/get-content"), "reposGetContent");
    }

    #[test]
    fn enum_values_are_upper_snake_case() {
        assert_eq!(enum_value("in-progress"), "IN_PROGRESS");
        assert_eq!(enum_value("inProgress"), "IN_PROGRESS");
        assert_eq!(enum_value(""), "EMPTY");
        assert_eq!(enum_value("1"), "_1");
        assert_eq!(enum_value("+1"), "_1");
    }

    #[test]
    fn read_names_start_with_a_read_verb_as_a_whole_word() {
        for name in [
            "GetUser",
            "Check",
            "ListPets",
            "list_pets",
            "get-invoice",
            "listOrders",
            "Search_Users",
            "BatchGetUsers",
            "get",
        ] {
            assert!(is_read_name(name), "{name}");
        }
        for name in [
            "Getaway",
            "getaway",
            "Checkout",
            "CreateUser",
            "create-user",
            "",
        ] {
            assert!(!is_read_name(name), "{name}");
        }
    }

    #[test]
    fn collisions_get_numbered_suffixes_in_claim_order() {
        let mut ns = Namespace::new();
        assert_eq!(ns.claim("user"), "user");
        assert_eq!(ns.claim("user"), "user2");
        assert_eq!(ns.claim("user"), "user3");
    }
}
