//! Documents: spec text into JSON values, external `$ref` documents loaded up front through
//! the caller's loader, and `$ref` resolution into (document, node, pointer).

use std::collections::HashMap;

use percent_encoding::percent_decode_str;
use serde_json::Value;

use super::DocumentLoader;

/// Why the text is not a JSON or YAML document.
pub(super) struct SyntaxError {
    pub message: String,
    pub line: Option<usize>,
}

/// Parses JSON (when the text starts like JSON, for its precise errors and speed) or YAML.
pub(super) fn parse_text(text: &str) -> Result<Value, SyntaxError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return serde_json::from_str(text).map_err(|e| SyntaxError {
            message: format!("the document is not valid JSON: {e}"),
            line: Some(e.line()),
        });
    }
    serde_norway::from_str(text).map_err(|e| SyntaxError {
        message: format!("the document is not valid YAML: {e}"),
        line: e.location().map(|l| l.line()),
    })
}

/// Where a node is: its document and its dotted pointer (`paths./pets/{id}.get`), the
/// coordinate diagnostics name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Loc {
    pub doc: usize,
    pub at: String,
}

impl Loc {
    /// A top-level key of the main document.
    pub fn root(key: &str) -> Loc {
        Loc {
            doc: 0,
            at: key.to_string(),
        }
    }

    pub fn child(&self, segment: &str) -> Loc {
        let mut at = String::with_capacity(self.at.len() + segment.len() + 1);
        at.push_str(&self.at);
        if !at.is_empty() {
            at.push('.');
        }
        at.push_str(segment);
        Loc { doc: self.doc, at }
    }

    pub fn index(&self, i: usize) -> Loc {
        self.child(&i.to_string())
    }
}

/// Why a `$ref` does not resolve.
pub(super) enum RefError {
    Dangling(String),
    External(String),
}

struct Doc {
    uri: String,
    value: Value,
}

/// The main document (index 0) and every external document its `$ref`s reach.
pub(super) struct Docs {
    docs: Vec<Doc>,
    /// Absolute URI → loaded document, or why it could not be loaded.
    by_uri: HashMap<String, Result<usize, String>>,
}

/// At most this many external documents are loaded (a guard against runaway ref graphs).
const MAX_DOCUMENTS: usize = 1000;

impl Docs {
    /// Loads, transitively, every external document referenced from `root`.
    pub fn load(root: Value, uri: &str, loader: &dyn DocumentLoader) -> Docs {
        let mut docs = Docs {
            docs: vec![Doc {
                uri: uri.to_string(),
                value: root,
            }],
            by_uri: HashMap::new(),
        };
        docs.by_uri.insert(uri.to_string(), Ok(0));
        let mut next = 0;
        while next < docs.docs.len() {
            let refs = docs
                .docs
                .get(next)
                .map(|d| external_refs(&d.uri, &d.value))
                .unwrap_or_default();
            for target in refs {
                if docs.by_uri.contains_key(&target) {
                    continue;
                }
                let loaded = if docs.docs.len() >= MAX_DOCUMENTS {
                    Err(format!("more than {MAX_DOCUMENTS} external documents"))
                } else {
                    loader.load(&target).and_then(|text| {
                        parse_text(&text).map_err(|e| match e.line {
                            Some(line) => format!("line {line}: {}", e.message),
                            None => e.message,
                        })
                    })
                };
                let entry = loaded.map(|value| {
                    docs.docs.push(Doc {
                        uri: target.clone(),
                        value,
                    });
                    docs.docs.len() - 1
                });
                docs.by_uri.insert(target, entry);
            }
            next += 1;
        }
        docs
    }

    pub fn root(&self) -> &Value {
        self.docs.first().map_or(&Value::Null, |d| &d.value)
    }

    pub fn uri(&self, doc: usize) -> &str {
        self.docs.get(doc).map_or("", |d| d.uri.as_str())
    }

    /// Resolves `reference` found in document `from`: the target document, node and pointer.
    pub fn resolve(&self, from: usize, reference: &str) -> Result<(usize, &Value, Loc), RefError> {
        let (file, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let doc = if file.is_empty() {
            from
        } else {
            let target = join_uri(self.uri(from), file);
            match self.by_uri.get(&target) {
                Some(Ok(doc)) => *doc,
                Some(Err(why)) => {
                    return Err(RefError::External(format!(
                        "`{target}` could not be loaded: {why}"
                    )));
                }
                None => return Err(RefError::External(format!("`{target}` was not loaded"))),
            }
        };
        let root = self
            .docs
            .get(doc)
            .map(|d| &d.value)
            .ok_or_else(|| RefError::Dangling("no such document".into()))?;
        let pointer = percent_decode_str(fragment).decode_utf8_lossy();
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(RefError::Dangling(format!(
                "`#{pointer}` is not a JSON pointer (anchors are not supported)"
            )));
        }
        let node = root
            .pointer(&pointer)
            .ok_or_else(|| RefError::Dangling("nothing is there".into()))?;
        let at = pointer
            .split('/')
            .skip(1)
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect::<Vec<_>>()
            .join(".");
        Ok((doc, node, Loc { doc, at }))
    }
}

/// Absolute URIs of the external documents `value` references.
fn external_refs(base: &str, value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    let file = reference
                        .split_once('#')
                        .map_or(reference.as_str(), |(f, _)| f);
                    if !file.is_empty() {
                        let target = join_uri(base, file);
                        if !found.contains(&target) {
                            found.push(target);
                        }
                    }
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

/// Resolves a relative reference against the referring document's location: URL joining
/// for URLs, lexical path joining (`..` and `.` folded) for file paths.
pub(super) fn join_uri(base: &str, reference: &str) -> String {
    // One-letter schemes are Windows drive letters, not URLs.
    if let Ok(absolute) = url::Url::parse(reference)
        && absolute.scheme().len() > 1
    {
        return absolute.to_string();
    }
    if let Ok(base_url) = url::Url::parse(base)
        && base_url.scheme().len() > 1
        && let Ok(joined) = base_url.join(reference)
    {
        return joined.to_string();
    }
    let dir = if reference.starts_with('/') {
        ""
    } else {
        base.rsplit_once('/').map_or("", |(dir, _)| dir)
    };
    let absolute = base.starts_with('/') || reference.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in dir.split('/').chain(reference.split('/')) {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_file_references_join_lexically() {
        assert_eq!(
            join_uri("specs/main.yaml", "common/pet.yaml"),
            "specs/common/pet.yaml"
        );
        assert_eq!(join_uri("specs/main.yaml", "../pet.yaml"), "pet.yaml");
        assert_eq!(join_uri("main.yaml", "./pet.yaml"), "pet.yaml");
        assert_eq!(join_uri("/a/b/main.yaml", "../../../pet.yaml"), "/pet.yaml");
        assert_eq!(join_uri("", "pet.yaml"), "pet.yaml");
    }

    #[test]
    fn relative_url_references_join_as_urls() {
        assert_eq!(
            join_uri("http://127.0.0.1:1/specs/main.json", "pet.json"),
            "http://127.0.0.1:1/specs/pet.json"
        );
        assert_eq!(
            join_uri("main.yaml", "http://127.0.0.1:1/pet.json"),
            "http://127.0.0.1:1/pet.json"
        );
    }

    #[test]
    fn yaml_and_json_parse_into_the_same_value() {
        let yaml = parse_text("a: 1\nb: [x]\n").ok().unwrap();
        let json = parse_text(r#"{"a": 1, "b": ["x"]}"#).ok().unwrap();
        assert_eq!(yaml, json);
    }

    #[test]
    fn yaml_integer_keys_become_strings() {
        let yaml = parse_text("responses:\n  200: {description: ok}\n")
            .ok()
            .unwrap();
        assert!(yaml.pointer("/responses/200").is_some());
    }
}
