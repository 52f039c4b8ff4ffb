//! Diagnostics: every problem graft finds in a spec or a schema, with a stable code.
//!
//! A diagnostic is one sentence, a coordinate (`Query.user @rest(path)`) and a code from
//! [`Code`], whose string form never changes once released (tools match on it).

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The schema cannot be served.
    Error,
    /// Something was skipped or guessed; the rest works.
    Warning,
    /// A suggestion (for example a link `graft gen` could infer).
    Info,
}

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident => $text:literal,)*) => {
        /// Stable diagnostic codes. The string form is part of graft's interface.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $($(#[$doc])* $variant,)* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $text,)* }
            }
        }
    };
}

codes! {
    // --- executable schema (SDL) ---
    /// The SDL does not parse.
    SdlSyntax => "SDL_SYNTAX",
    /// A directive graft does not define and the file does not declare.
    UnknownDirective => "UNKNOWN_DIRECTIVE",
    /// A graft directive is missing a required argument.
    MissingArgument => "MISSING_ARGUMENT",
    /// A graft directive argument has the wrong type or value.
    InvalidArgument => "INVALID_ARGUMENT",
    /// A graft directive argument that the directive does not define.
    UnknownArgument => "UNKNOWN_ARGUMENT",
    /// A field names a source that no `@source` declares.
    UnknownSource => "UNKNOWN_SOURCE",
    /// A field's directive does not match its source's transport (`@rest` on a gRPC source).
    TransportMismatch => "TRANSPORT_MISMATCH",
    /// Two `@source`s with one name.
    DuplicateSource => "DUPLICATE_SOURCE",
    /// A type reference names no defined type.
    UnknownType => "UNKNOWN_TYPE",
    /// Two files define the same type differently.
    ConflictingType => "CONFLICTING_TYPE",
    /// Two definitions of one field disagree.
    ConflictingField => "CONFLICTING_FIELD",
    /// A type is used where its kind is not allowed (an object as an argument type, ...).
    WrongTypeKind => "WRONG_TYPE_KIND",
    /// A field has more than one resolver directive.
    MultipleResolvers => "MULTIPLE_RESOLVERS",
    /// The graph has no query type, or it has no fields.
    NoQueryType => "NO_QUERY_TYPE",
    /// A template does not parse.
    TemplateSyntax => "TEMPLATE_SYNTAX",
    /// A template reads an argument the field does not have.
    TemplateUnknownArgument => "TEMPLATE_UNKNOWN_ARGUMENT",
    /// A template reads a parent property the parent type does not have.
    TemplateUnknownParentField => "TEMPLATE_UNKNOWN_PARENT_FIELD",
    /// A template reads `parent` on a root field, which has no parent.
    TemplateNoParent => "TEMPLATE_NO_PARENT",
    /// An upstream-backed field is non-null, so one failing call nulls its parent.
    NonNullUpstreamField => "NON_NULL_UPSTREAM_FIELD",
    /// A union member that is not an object type, or a discriminator naming a non-member.
    InvalidUnion => "INVALID_UNION",
    /// A definition kind graft does not serve (interfaces, directives on unsupported places).
    Unsupported => "UNSUPPORTED",

    // --- source specs (OpenAPI, gRPC descriptors, Lambda manifests) ---
    /// The input could not be read (file missing, URL unreachable, too slow, too large).
    SpecRead => "SPEC_READ",
    /// The input is not valid JSON or YAML.
    SpecSyntax => "SPEC_SYNTAX",
    /// The document is not an OpenAPI 3.x or Swagger 2.0 document.
    SpecNotOpenApi => "SPEC_NOT_OPENAPI",
    /// A `$ref` points at nothing.
    RefDangling => "REF_DANGLING",
    /// A `$ref` chain loops back on itself without reaching a schema.
    RefCycle => "REF_CYCLE",
    /// A `$ref` to an external document that cannot be loaded.
    RefExternal => "REF_EXTERNAL",
    /// An operation was skipped; the rest of the spec is used.
    OperationSkipped => "OPERATION_SKIPPED",
    /// A schema (or part of one) could not be translated and was replaced or dropped.
    SchemaSkipped => "SCHEMA_SKIPPED",
    /// A value in the spec has the wrong type and was ignored (a numeric `pattern`, ...).
    SpecValueIgnored => "SPEC_VALUE_IGNORED",
    /// No operation of the spec could be translated.
    NothingUsable => "NOTHING_USABLE",
    /// Two generated names collided and one was renamed.
    NameCollision => "NAME_COLLISION",
    /// The spec gives no base URL and none was passed.
    NoBaseUrl => "NO_BASE_URL",
    /// A link graft could add (not applied).
    LinkSuggestion => "LINK_SUGGESTION",

    // --- gRPC descriptors and reflection ---
    /// A FileDescriptorSet (file or reflection answer) does not decode or does not link
    /// (a missing dependency, an unknown type).
    DescriptorInvalid => "DESCRIPTOR_INVALID",
    /// The gRPC server could not be reached or does not serve reflection (v1 nor v1alpha).
    ReflectionUnavailable => "REFLECTION_UNAVAILABLE",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    /// One sentence.
    pub message: String,
    /// Where: a schema coordinate (`Query.user @rest(path)`) or a spec pointer
    /// (`paths./users/{id}.get`).
    pub at: String,
    /// The file the problem is in, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line in `file`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl Diagnostic {
    pub fn new(
        severity: Severity,
        code: Code,
        at: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            at: at.into(),
            file: None,
            line: None,
        }
    }

    pub fn error(code: Code, at: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, at, message)
    }

    pub fn warning(code: Code, at: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, at, message)
    }

    pub fn info(code: Code, at: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Info, code, at, message)
    }

    pub fn in_file(mut self, file: impl Into<String>, line: Option<usize>) -> Self {
        self.file = Some(file.into());
        self.line = line;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `error[UNKNOWN_SOURCE] schema.graphql:12: Query.user @rest(source): no @source named "x"`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        write!(f, "{severity}[{}] ", self.code)?;
        if let Some(file) = &self.file {
            match self.line {
                Some(line) => write!(f, "{file}:{line}: ")?,
                None => write!(f, "{file}: ")?,
            }
        }
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// True when any diagnostic is an error.
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}
