//! Writes a plan's response as JSON bytes straight from the upstream values, with the
//! spec's null propagation: a null (or an error) in a non-null position makes the nearest
//! nullable ancestor null — the buffer is truncated back to where that ancestor's value
//! started and `null` written instead.
//!
//! Values are checked and converted as `build.rs` shapes them for async-graphql (same error
//! messages and codes), so both executors report the same errors: a value that does not fit
//! its field's type is one error at that field's path.

use std::fmt::Write as _;

use async_graphql::Pos;
use schema_gen::catalog::TypeRef;
use serde_json::{Number, Value};

use super::compile::{FieldPlan, FieldSource, Kind, Selection, Sub};
use super::exec::{Resolved, Results, addr};
use crate::decoded::Val;
use crate::error::{ErrorKind, UpstreamError};
use crate::resolve::{Wire, int64_from_str};

/// One segment of an error path.
#[derive(Debug, Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// An error's extensions, in async-graphql's (sorted) key order.
#[derive(Default)]
struct Ext<'a> {
    code: Option<&'a str>,
    details: Option<&'a Value>,
    source: Option<&'a str>,
    status: Option<u16>,
}

/// Why a value was not written.
enum Fail {
    /// The value does not fit the type: one error at the field, the field is null.
    Shape(String),
    /// A non-null field got no value at all.
    Absent,
    /// A non-null position below became null (its error is already recorded).
    Propagate,
}

/// The JSON writer for one response.
pub struct Writer<'r> {
    pub out: Vec<u8>,
    errors: Vec<u8>,
    error_count: usize,
    path: Vec<Seg<'r>>,
    results: &'r Results,
    wire: &'r Wire,
    /// async-graphql's answer to the plan's introspection document (its `data` object),
    /// written as async-graphql serializes it.
    introspection: Option<&'r async_graphql::Value>,
}

impl<'r> Writer<'r> {
    pub fn new(
        results: &'r Results,
        wire: &'r Wire,
        introspection: Option<&'r async_graphql::Value>,
        capacity: usize,
    ) -> Self {
        Writer {
            out: Vec::with_capacity(capacity),
            errors: Vec::new(),
            error_count: 0,
            path: Vec::new(),
            results,
            wire,
            introspection,
        }
    }

    /// Writes `{"data":…,"errors":[…]}` (as async-graphql serializes a response) and returns
    /// the bytes and whether there were errors.
    pub fn response(mut self, root: &'r Selection) -> (Vec<u8>, bool) {
        self.out.extend_from_slice(b"{\"data\":");
        let start = self.out.len();
        if self.object(root, None).is_err() {
            self.out.truncate(start);
            self.out.extend_from_slice(b"null");
        }
        let has_errors = self.error_count > 0;
        if has_errors {
            self.out.extend_from_slice(b",\"errors\":[");
            self.out.extend_from_slice(&self.errors);
            self.out.push(b']');
        }
        self.out.push(b'}');
        (self.out, has_errors)
    }

    fn object(&mut self, selection: &'r Selection, parent: Option<Val<'r>>) -> Result<(), ()> {
        self.out.push(b'{');
        // Siblings of a field that nulls this object still run: their errors are reported
        // too (as async-graphql reports them).
        let mut nulled = false;
        for (i, field) in selection.fields.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.out.extend_from_slice(&field.key_json);
            if self.present_scalar(field, parent) {
                continue;
            }
            self.path.push(Seg::Key(&field.key));
            nulled |= self.field(field, parent).is_err();
            self.path.pop();
        }
        self.out.push(b'}');
        if nulled { Err(()) } else { Ok(()) }
    }

    /// Writes a scalar property that is present and fits its type: most fields, written
    /// without the general path's bookkeeping. Anything else (absent, null, a mismatch, a
    /// list, an object) returns false having written nothing; the general path then writes
    /// it and reports its errors.
    fn present_scalar(&mut self, field: &'r FieldPlan, parent: Option<Val<'r>>) -> bool {
        let (FieldSource::Property(property), Sub::Leaf) = (&field.source, &field.sub) else {
            return false;
        };
        let single = match &field.ty {
            TypeRef::Named(_) => true,
            TypeRef::NonNull(inner) => matches!(**inner, TypeRef::Named(_)),
            TypeRef::List(_) => false,
        };
        match parent.and_then(|p| p.property(property)) {
            Some(value) if single && !value.is_null() => self.scalar(field.kind, value),
            _ => false,
        }
    }

    /// Writes a built-in scalar (`String`/`ID`, `Int`, `Float`, `Boolean`, `Int64`) when the
    /// value fits it; false, having written nothing, when it does not or the kind is another.
    fn scalar(&mut self, kind: Kind, value: Val<'r>) -> bool {
        let out = &mut self.out;
        match kind {
            Kind::Text => {
                if let Some(s) = value.as_str() {
                    write_str(out, s);
                } else if let Some(n) = value.as_number() {
                    write_str(out, &n.to_string());
                } else if let Some(b) = value.as_bool() {
                    write_str(out, if b { "true" } else { "false" });
                } else {
                    return false;
                }
            }
            Kind::Int => match value
                .as_number()
                .and_then(Number::as_i64)
                .map(i32::try_from)
            {
                Some(Ok(int)) => out.extend_from_slice(itoa::Buffer::new().format(int).as_bytes()),
                _ => return false,
            },
            Kind::Float => match value.as_number() {
                Some(n) => write_json(out, n),
                None => return false,
            },
            Kind::Boolean => match value.as_bool() {
                Some(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
                None => return false,
            },
            Kind::Int64 => match (value.as_number(), value.as_str()) {
                (Some(n), _) if n.is_i64() || n.is_u64() => write_json(out, n),
                (_, Some(s)) => match int64_from_str(s) {
                    Some(n) => write_json(out, &n),
                    None => return false,
                },
                _ => return false,
            },
            Kind::Enum | Kind::Union | Kind::Object | Kind::Json => return false,
        }
        true
    }

    /// Writes one field's value; `Err` when it is null in a non-null position.
    fn field(&mut self, field: &'r FieldPlan, parent: Option<Val<'r>>) -> Result<(), ()> {
        let start = self.out.len();
        let errors_before = (self.errors.len(), self.error_count);
        let mut source = None;
        let value: Option<Val<'r>> = match &field.source {
            FieldSource::Typename(name) => {
                write_str(&mut self.out, name);
                return Ok(());
            }
            FieldSource::Introspection => {
                let value = match self.introspection {
                    Some(async_graphql::Value::Object(data)) => data.get(field.key.as_str()),
                    _ => None,
                };
                write_json(&mut self.out, value.unwrap_or(&async_graphql::Value::Null));
                return Ok(());
            }
            FieldSource::Null => None,
            FieldSource::Property(property) => parent.and_then(|p| p.property(property)),
            FieldSource::Call(node) => {
                source = Some(node.field.invoke.source_name());
                match self.results.get(&(node.id, addr(parent))) {
                    Some(Resolved::Error(e)) => {
                        self.upstream_error(field.pos, e);
                        self.out.extend_from_slice(b"null");
                        return if field.ty.is_non_null() {
                            Err(())
                        } else {
                            Ok(())
                        };
                    }
                    Some(resolved) => Some(resolved.view().unwrap_or_else(Val::null)),
                    None => Some(Val::null()),
                }
            }
        };
        match self.value(&field.ty, value, &field.sub, field.kind) {
            Ok(()) => Ok(()),
            Err(fail) => {
                self.out.truncate(start);
                self.out.extend_from_slice(b"null");
                match fail {
                    Fail::Shape(message) => {
                        // async-graphql never resolves below a value that does not fit.
                        self.errors.truncate(errors_before.0);
                        self.error_count = errors_before.1;
                        let ext = Ext {
                            code: Some(ErrorKind::InvalidResponse.code()),
                            details: None,
                            source,
                            status: None,
                        };
                        self.error(field.pos, &message, ext);
                    }
                    Fail::Absent => {
                        self.error(
                            field.pos,
                            "internal: non-null types require a return value",
                            Ext::default(),
                        );
                    }
                    Fail::Propagate => {}
                }
                if field.ty.is_non_null() {
                    Err(())
                } else {
                    Ok(())
                }
            }
        }
    }

    fn value(
        &mut self,
        ty: &TypeRef,
        value: Option<Val<'r>>,
        sub: &'r Sub,
        kind: Kind,
    ) -> Result<(), Fail> {
        match ty {
            TypeRef::NonNull(inner) => match value {
                None => Err(Fail::Absent),
                Some(v) if v.is_null() => Err(Fail::Shape(format!(
                    "the upstream sent null for the non-null type {ty}"
                ))),
                Some(v) => self.value(inner, Some(v), sub, kind),
            },
            TypeRef::List(inner) => match value {
                None => {
                    self.out.extend_from_slice(b"null");
                    Ok(())
                }
                Some(v) if v.is_null() => {
                    self.out.extend_from_slice(b"null");
                    Ok(())
                }
                Some(v) => {
                    let Some(items) = v.items() else {
                        return Err(Fail::Shape(format!(
                            "expected a list for {ty}, the upstream sent {}",
                            v.kind()
                        )));
                    };
                    self.out.push(b'[');
                    let mut nulled = false;
                    for (i, item) in items.enumerate() {
                        if i > 0 {
                            self.out.push(b',');
                        }
                        let start = self.out.len();
                        self.path.push(Seg::Index(i));
                        let done = self.value(inner, Some(item), sub, kind);
                        self.path.pop();
                        match done {
                            Ok(()) => {}
                            // A nullable item absorbs a null from below.
                            Err(Fail::Propagate) if !inner.is_non_null() => {
                                self.out.truncate(start);
                                self.out.extend_from_slice(b"null");
                            }
                            // Later items still run, so that their errors are reported.
                            Err(Fail::Propagate) => nulled = true,
                            Err(fail) => return Err(fail),
                        }
                    }
                    self.out.push(b']');
                    if nulled { Err(Fail::Propagate) } else { Ok(()) }
                }
            },
            TypeRef::Named(name) => match value {
                Some(v) if !v.is_null() => self.named(name, v, sub, kind),
                _ => {
                    self.out.extend_from_slice(b"null");
                    Ok(())
                }
            },
        }
    }

    fn named(&mut self, name: &str, value: Val<'r>, sub: &'r Sub, kind: Kind) -> Result<(), Fail> {
        let mismatch = |value: Val<'_>| {
            Fail::Shape(format!(
                "expected {name}, the upstream sent {}",
                value.kind()
            ))
        };
        match kind {
            Kind::Text | Kind::Int | Kind::Float | Kind::Boolean | Kind::Int64 => {
                if !self.scalar(kind, value) {
                    return Err(mismatch(value));
                }
            }
            Kind::Enum => match value.as_str() {
                Some(s) => {
                    let graphql = self.wire.enum_name(name, s).map_err(|e| Fail::Shape(e.0))?;
                    write_str(&mut self.out, graphql);
                }
                None => return Err(mismatch(value)),
            },
            Kind::Union => {
                let member = self
                    .wire
                    .union_member(name, &value.to_json())
                    .map_err(|e| Fail::Shape(e.0))?;
                let selection = sub
                    .for_member(member)
                    .ok_or_else(|| Fail::Shape(format!("{member} is not selectable")))?;
                self.object(selection, Some(value))
                    .map_err(|()| Fail::Propagate)?;
            }
            Kind::Object => {
                if !value.is_object() {
                    return Err(mismatch(value));
                }
                let Some(selection) = sub.for_member(name) else {
                    return Err(mismatch(value));
                };
                self.object(selection, Some(value))
                    .map_err(|()| Fail::Propagate)?;
            }
            // JSON and other custom scalars pass through.
            Kind::Json => write_json(&mut self.out, &*value.to_json()),
        }
        Ok(())
    }

    fn upstream_error(&mut self, pos: Pos, error: &UpstreamError) {
        let ext = Ext {
            code: Some(error.kind.code()),
            details: error.details.as_deref(),
            source: Some(&error.source_name),
            status: error.status,
        };
        self.error(pos, &error.message, ext);
    }

    /// Appends one error as async-graphql serializes a `ServerError` (extension keys sorted).
    fn error(&mut self, pos: Pos, message: &str, ext: Ext<'_>) {
        let Ext {
            code,
            details,
            source,
            status,
        } = ext;
        if self.error_count > 0 {
            self.errors.push(b',');
        }
        self.error_count += 1;
        let e = &mut self.errors;
        e.extend_from_slice(b"{\"message\":");
        write_str(e, message);
        let mut text = String::new();
        let _ = write!(
            text,
            ",\"locations\":[{{\"line\":{},\"column\":{}}}],\"path\":[",
            pos.line, pos.column
        );
        e.extend_from_slice(text.as_bytes());
        for (i, seg) in self.path.iter().enumerate() {
            if i > 0 {
                e.push(b',');
            }
            match seg {
                Seg::Key(k) => write_str(e, k),
                Seg::Index(n) => e.extend_from_slice(n.to_string().as_bytes()),
            }
        }
        e.push(b']');
        if code.is_some() || source.is_some() {
            e.extend_from_slice(b",\"extensions\":{");
            let mut first = true;
            let mut sep = |e: &mut Vec<u8>| {
                if !std::mem::take(&mut first) {
                    e.push(b',');
                }
            };
            if let Some(code) = code {
                sep(e);
                e.extend_from_slice(b"\"code\":");
                write_str(e, code);
            }
            if let Some(details) = details {
                sep(e);
                e.extend_from_slice(b"\"details\":");
                write_json(e, details);
            }
            if let Some(source) = source {
                sep(e);
                e.extend_from_slice(b"\"source\":");
                write_str(e, source);
            }
            if let Some(status) = status {
                sep(e);
                e.extend_from_slice(b"\"status\":");
                e.extend_from_slice(status.to_string().as_bytes());
            }
            e.push(b'}');
        }
        e.push(b'}');
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // Most strings need no escape and are copied whole: checked by a fold without early exit,
    // which vectorizes, this costs a third of serde_json's escaping writer per string.
    let escapes = s.bytes().fold(false, |found, b| {
        found | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if !escapes {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Serializing a str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

fn write_json(out: &mut Vec<u8>, value: &impl serde::Serialize) {
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let long_plain = "consectetur adipiscing elit ".repeat(20);
        let samples = [
            "",
            "plain title",
            long_plain.as_str(),
            "quote \" inside",
            "back\\slash",
            "line\nbreak and tab\t",
            "\u{1} control at the start",
            "unicode é ✓ 😀 stays as is",
            "\u{7f} delete is not escaped",
        ];
        for sample in samples {
            let mut out = Vec::new();
            write_str(&mut out, sample);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(sample).unwrap(),
                "{sample:?}"
            );
        }
    }
}
