//! Templates: strings with `{{args.x}}`, `{{parent.x}}`, `{{headers.x}}` and `{{env.X}}` holes.
//!
//! A template is parsed once into literal and variable segments; rendering is the engine's job.

use std::fmt;

/// Where a template variable reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The field's arguments (GraphQL names).
    Args,
    /// The parent value (JSON property names, as the upstream sent them).
    Parent,
    /// The client's request headers (case-insensitive names).
    Headers,
    /// The process environment, read when the gateway is built.
    Env,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Args => "args",
            Scope::Parent => "parent",
            Scope::Headers => "headers",
            Scope::Env => "env",
        }
    }
}

/// `scope.a.b.c`
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Var {
    pub scope: Scope,
    pub path: Vec<String>,
}

impl fmt::Display for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.scope.as_str())?;
        for part in &self.path {
            write!(f, ".{part}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Literal(String),
    Var(Var),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Template {
    pub segments: Vec<Segment>,
}

/// Why a template did not parse; rendered into a `TEMPLATE_SYNTAX` diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("`{{{{` at byte {0} is never closed with `}}}}`")]
    Unclosed(usize),
    #[error("`{{{{}}}}` is empty")]
    Empty,
    #[error("unknown scope `{0}` (expected args, parent, headers or env)")]
    UnknownScope(String),
    #[error("`{{{{{0}}}}}` names no property after its scope")]
    MissingPath(String),
}

impl Template {
    /// A template with no variables.
    pub fn literal(text: impl Into<String>) -> Self {
        let text = text.into();
        if text.is_empty() {
            return Template::default();
        }
        Template {
            segments: vec![Segment::Literal(text)],
        }
    }

    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut segments = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                segments.push(Segment::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or(TemplateError::Unclosed(offset + start))?;
            segments.push(Segment::Var(parse_var(after[..end].trim())?));
            let consumed = start + 2 + end + 2;
            rest = &rest[consumed..];
            offset += consumed;
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_string()));
        }
        Ok(Template { segments })
    }

    /// Every variable the template reads.
    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Var(v) => Some(v),
            Segment::Literal(_) => None,
        })
    }

    /// The variable, when the template is exactly one `{{...}}` and nothing else.
    pub fn sole_var(&self) -> Option<&Var> {
        match self.segments.as_slice() {
            [Segment::Var(v)] => Some(v),
            _ => None,
        }
    }

    pub fn is_literal(&self) -> bool {
        self.vars().next().is_none()
    }
}

fn parse_var(inner: &str) -> Result<Var, TemplateError> {
    if inner.is_empty() {
        return Err(TemplateError::Empty);
    }
    // `.value.x` and `value.x` (Tailcall's spelling) are accepted as `parent.x` for migrations.
    let inner = inner.strip_prefix('.').unwrap_or(inner);
    let mut parts = inner.split('.').map(str::trim);
    let scope = match parts.next().unwrap_or_default() {
        "args" => Scope::Args,
        "parent" | "value" => Scope::Parent,
        "headers" => Scope::Headers,
        "env" => Scope::Env,
        other => return Err(TemplateError::UnknownScope(other.to_string())),
    };
    let path: Vec<String> = parts
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    if path.is_empty() {
        return Err(TemplateError::MissingPath(inner.to_string()));
    }
    Ok(Var { scope, path })
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => f.write_str(text)?,
                Segment::Var(var) => write!(f, "{{{{{var}}}}}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_round_trips_through_display() {
        let t = Template::parse("/users/{{ args.id }}/posts?x={{parent.a.b}}").unwrap();
        assert_eq!(t.to_string(), "/users/{{args.id}}/posts?x={{parent.a.b}}");
        assert_eq!(t.vars().count(), 2);
    }

    #[test]
    fn a_sole_variable_is_recognised() {
        let t = Template::parse("{{args.input}}").unwrap();
        assert_eq!(t.sole_var().unwrap().path, vec!["input"]);
        assert!(
            Template::parse("x{{args.input}}")
                .unwrap()
                .sole_var()
                .is_none()
        );
    }

    #[test]
    fn bad_templates_say_why() {
        assert_eq!(
            Template::parse("/a/{{args.id").unwrap_err(),
            TemplateError::Unclosed(3)
        );
        assert_eq!(Template::parse("{{}}").unwrap_err(), TemplateError::Empty);
        assert!(matches!(
            Template::parse("{{foo.x}}"),
            Err(TemplateError::UnknownScope(_))
        ));
        assert!(matches!(
            Template::parse("{{args}}"),
            Err(TemplateError::MissingPath(_))
        ));
    }
}
