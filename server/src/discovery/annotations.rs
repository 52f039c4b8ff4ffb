//! Annotations: a Kubernetes Service's label and annotations into a typed discovered source.
//!
//! Pure: no IO. This is the edge where the stringly-typed annotations become values; past
//! it the pipeline sees only [`DiscoveredSource`] or an [`AnnotationError`].
//!
//! | key | kind | meaning |
//! | --- | --- | --- |
//! | `graft.dev/discover: "true"` | label | opt in |
//! | `graft.dev/openapi: "/openapi.json"` | annotation | REST, spec fetched from this path of the Service (or an absolute http(s) URL); port named `http`, else the first |
//! | `graft.dev/grpc: "reflection"` | annotation | gRPC described by server reflection; port named `grpc`, else the first |
//! | `graft.dev/url` | annotation | base URL used as is; default `http://<name>.<namespace>.svc.cluster.local:<port>` |
//! | `graft.dev/source-name` | annotation | the source's name in the graph; default the Service's name |
//! | `graft.dev/field-prefix` | annotation | prefixes root fields (`catalogProducts`) and types (`CatalogProduct`) |

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Service;

/// The opt-in label; its value must be `"true"`.
pub const DISCOVER_LABEL: &str = "graft.dev/discover";
/// The label selector sent with every list/watch (and checked again here).
pub const DISCOVER_SELECTOR: &str = "graft.dev/discover=true";
pub const OPENAPI: &str = "graft.dev/openapi";
pub const GRPC: &str = "graft.dev/grpc";
pub const URL: &str = "graft.dev/url";
pub const SOURCE_NAME: &str = "graft.dev/source-name";
pub const FIELD_PREFIX: &str = "graft.dev/field-prefix";

/// The longest source name or field prefix accepted (a DNS label's length).
const MAX_NAME: usize = 63;

/// A namespaced object (a Service, a GraphQLSchema) by namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A source found on a Service: how to describe it and how it is named in the graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DiscoveredSource {
    pub service: ObjectKey,
    /// `@source(name:)`.
    pub source_name: String,
    /// Applied with `schema_gen::transform::prefix`.
    pub field_prefix: Option<String>,
    pub kind: SourceKind,
}

/// The transport of a discovered source and where it is reached.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// Calls go to `base_url`; the spec is fetched from `spec_url`.
    Rest { base_url: String, spec_url: String },
    /// Calls and reflection go to `endpoint` (`http://host:port`).
    Grpc { endpoint: String },
}

impl SourceKind {
    /// The transport keyword, as in `@source(rest: ...)`.
    pub fn keyword(&self) -> &'static str {
        match self {
            SourceKind::Rest { .. } => "rest",
            SourceKind::Grpc { .. } => "grpc",
        }
    }
}

/// Why a labelled Service is not a usable source. Each names the annotation at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnotationError {
    #[error("the Service has no name or namespace")]
    Unnamed,
    #[error("it carries neither `{OPENAPI}` nor `{GRPC}`; one of them says how to describe it")]
    NoKind,
    #[error("it carries both `{OPENAPI}` and `{GRPC}`; a Service is one source")]
    BothKinds,
    #[error("`{GRPC}` must be \"reflection\", not {0:?}")]
    GrpcMode(String),
    #[error("`{OPENAPI}` must be a path starting with `/` or an http(s) URL, not {0:?}")]
    SpecPath(String),
    #[error("`{URL}` {value:?} is not a usable base URL: {reason}")]
    Url { value: String, reason: String },
    #[error(
        "`{SOURCE_NAME}` {0:?} is not a valid source name (a letter, then letters, digits, `_` or `-`; at most 63)"
    )]
    SourceName(String),
    #[error(
        "`{FIELD_PREFIX}` {0:?} is not a valid prefix (a letter, then letters, digits or `_`; at most 63)"
    )]
    FieldPrefix(String),
    #[error("the Service has no ports and no `{URL}`, so there is nowhere to call")]
    NoPort,
    #[error("`{key}` contains a `{{{{` template; annotations are used literally")]
    Template { key: &'static str },
}

/// True when the Service carries `graft.dev/discover: "true"` (the API server may ignore the
/// label selector, so every Service is checked here too).
pub fn is_discoverable(service: &Service) -> bool {
    service
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(DISCOVER_LABEL))
        .is_some_and(|v| v == "true")
}

/// The Service's key, when it has a name and namespace.
pub fn service_key(service: &Service) -> Option<ObjectKey> {
    let name = service.metadata.name.clone().filter(|n| !n.is_empty())?;
    let namespace = service
        .metadata
        .namespace
        .clone()
        .filter(|n| !n.is_empty())?;
    Some(ObjectKey { namespace, name })
}

/// Reads a labelled Service's annotations into a source. Call only when
/// [`is_discoverable`] holds.
pub fn discover(service: &Service) -> Result<DiscoveredSource, AnnotationError> {
    let key = service_key(service).ok_or(AnnotationError::Unnamed)?;
    let empty = BTreeMap::new();
    let annotations = service.metadata.annotations.as_ref().unwrap_or(&empty);
    let get = |name: &'static str| -> Result<Option<&str>, AnnotationError> {
        match annotations.get(name).map(|v| v.trim()) {
            Some(v) if v.contains("{{") => Err(AnnotationError::Template { key: name }),
            other => Ok(other),
        }
    };

    let source_name = match get(SOURCE_NAME)? {
        Some(name) if is_source_name(name) => name.to_string(),
        Some(name) => return Err(AnnotationError::SourceName(name.to_string())),
        None if is_source_name(&key.name) => key.name.clone(),
        None => return Err(AnnotationError::SourceName(key.name.clone())),
    };
    let field_prefix = match get(FIELD_PREFIX)? {
        Some(prefix) if is_prefix(prefix) => Some(prefix.to_string()),
        Some(prefix) => return Err(AnnotationError::FieldPrefix(prefix.to_string())),
        None => None,
    };
    let explicit_url = get(URL)?.map(check_url).transpose()?;
    let base = |port_name: &str| -> Result<String, AnnotationError> {
        match &explicit_url {
            Some(url) => Ok(url.clone()),
            None => {
                let port = pick_port(service, port_name).ok_or(AnnotationError::NoPort)?;
                Ok(format!(
                    "http://{}.{}.svc.cluster.local:{port}",
                    key.name, key.namespace
                ))
            }
        }
    };

    let kind = match (get(OPENAPI)?, get(GRPC)?) {
        (Some(_), Some(_)) => return Err(AnnotationError::BothKinds),
        (None, None) => return Err(AnnotationError::NoKind),
        (None, Some("reflection")) => SourceKind::Grpc {
            endpoint: base("grpc")?,
        },
        (None, Some(mode)) => return Err(AnnotationError::GrpcMode(mode.to_string())),
        (Some(spec), None) => {
            let base_url = base("http")?;
            let spec_url = if spec.starts_with("http://") || spec.starts_with("https://") {
                check_url(spec).map_err(|_| AnnotationError::SpecPath(spec.to_string()))?
            } else if spec.starts_with('/') && !spec.contains(char::is_whitespace) {
                format!("{}{spec}", base_url.trim_end_matches('/'))
            } else {
                return Err(AnnotationError::SpecPath(spec.to_string()));
            };
            SourceKind::Rest { base_url, spec_url }
        }
    };
    Ok(DiscoveredSource {
        service: key,
        source_name,
        field_prefix,
        kind,
    })
}

/// The port named `wanted`, else the first one.
fn pick_port(service: &Service, wanted: &str) -> Option<i32> {
    let ports = service.spec.as_ref()?.ports.as_ref()?;
    ports
        .iter()
        .find(|p| p.name.as_deref() == Some(wanted))
        .or_else(|| ports.first())
        .map(|p| p.port)
}

/// An absolute http(s) URL with a host, returned as written.
fn check_url(value: &str) -> Result<String, AnnotationError> {
    let bad = |reason: &str| AnnotationError::Url {
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let url = url::Url::parse(value).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a base URL takes no query or fragment"));
    }
    Ok(value.to_string())
}

fn is_source_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_NAME
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn is_prefix(prefix: &str) -> bool {
    let mut chars = prefix.chars();
    prefix.len() <= MAX_NAME
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn service(annotations: &[(&str, &str)], ports: &[(Option<&str>, i32)]) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some("catalog".into()),
                namespace: Some("shop".into()),
                labels: Some([(DISCOVER_LABEL.to_string(), "true".to_string())].into()),
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                ports: Some(
                    ports
                        .iter()
                        .map(|(name, port)| ServicePort {
                            name: name.map(String::from),
                            port: *port,
                            ..ServicePort::default()
                        })
                        .collect(),
                ),
                ..ServiceSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn a_rest_service_is_called_on_its_http_port_by_cluster_dns() {
        let svc = service(
            &[(OPENAPI, "/openapi.json")],
            &[(Some("metrics"), 9090), (Some("http"), 8080)],
        );
        let found = discover(&svc).unwrap();
        assert_eq!(found.source_name, "catalog");
        assert_eq!(found.field_prefix, None);
        assert_eq!(
            found.kind,
            SourceKind::Rest {
                base_url: "http://catalog.shop.svc.cluster.local:8080".into(),
                spec_url: "http://catalog.shop.svc.cluster.local:8080/openapi.json".into(),
            }
        );
    }

    #[test]
    fn a_grpc_service_uses_its_grpc_port_or_else_the_first() {
        let named = service(
            &[(GRPC, "reflection")],
            &[(Some("http"), 8080), (Some("grpc"), 50051)],
        );
        assert_eq!(
            discover(&named).unwrap().kind,
            SourceKind::Grpc {
                endpoint: "http://catalog.shop.svc.cluster.local:50051".into()
            }
        );
        let first = service(
            &[(GRPC, "reflection")],
            &[(None, 7000), (Some("admin"), 7001)],
        );
        assert_eq!(
            discover(&first).unwrap().kind,
            SourceKind::Grpc {
                endpoint: "http://catalog.shop.svc.cluster.local:7000".into()
            }
        );
    }

    #[test]
    fn an_explicit_url_is_used_as_is_and_the_spec_path_is_joined_to_it() {
        let svc = service(
            &[
                (OPENAPI, "/v2/openapi.yaml"),
                (URL, "http://127.0.0.1:4000/api/"),
                (SOURCE_NAME, "reviews"),
                (FIELD_PREFIX, "rev"),
            ],
            &[],
        );
        let found = discover(&svc).unwrap();
        assert_eq!(found.source_name, "reviews");
        assert_eq!(found.field_prefix.as_deref(), Some("rev"));
        assert_eq!(
            found.kind,
            SourceKind::Rest {
                base_url: "http://127.0.0.1:4000/api/".into(),
                spec_url: "http://127.0.0.1:4000/api/v2/openapi.yaml".into()
            }
        );
        let absolute = service(&[(OPENAPI, "https://specs.example/x.json")], &[(None, 80)]);
        let SourceKind::Rest { spec_url, .. } = discover(&absolute).unwrap().kind else {
            panic!("not rest")
        };
        assert_eq!(spec_url, "https://specs.example/x.json");
    }

    #[test]
    fn malformed_annotations_are_typed_errors() {
        let cases: Vec<(Vec<(&str, &str)>, AnnotationError)> = vec![
            (vec![], AnnotationError::NoKind),
            (
                vec![(OPENAPI, "/a"), (GRPC, "reflection")],
                AnnotationError::BothKinds,
            ),
            (
                vec![(GRPC, "descriptors")],
                AnnotationError::GrpcMode("descriptors".into()),
            ),
            (
                vec![(OPENAPI, "openapi.json")],
                AnnotationError::SpecPath("openapi.json".into()),
            ),
            (
                vec![(OPENAPI, "/a"), (SOURCE_NAME, "9lives")],
                AnnotationError::SourceName("9lives".into()),
            ),
            (
                vec![(OPENAPI, "/a"), (FIELD_PREFIX, "my-shop")],
                AnnotationError::FieldPrefix("my-shop".into()),
            ),
            (
                vec![(OPENAPI, "/a"), (URL, "{{env.SECRET}}")],
                AnnotationError::Template { key: URL },
            ),
        ];
        for (annotations, expected) in cases {
            assert_eq!(
                discover(&service(&annotations, &[(None, 80)])),
                Err(expected),
                "{annotations:?}"
            );
        }
        let bad_url = discover(&service(&[(OPENAPI, "/a"), (URL, "ftp://x")], &[])).unwrap_err();
        assert!(matches!(bad_url, AnnotationError::Url { .. }), "{bad_url}");
        assert_eq!(
            discover(&service(&[(OPENAPI, "/a")], &[])),
            Err(AnnotationError::NoPort)
        );
        assert!(bad_url.to_string().contains(URL));
    }

    #[test]
    fn only_the_true_label_value_opts_in() {
        let mut svc = service(&[], &[]);
        assert!(is_discoverable(&svc));
        svc.metadata.labels = Some([(DISCOVER_LABEL.to_string(), "false".to_string())].into());
        assert!(!is_discoverable(&svc));
        svc.metadata.labels = None;
        assert!(!is_discoverable(&svc));
    }
}
