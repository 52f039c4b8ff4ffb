//! Catalog → async-graphql dynamic schema. The only place that builds async-graphql types.
//!
//! Values flow through the schema as upstream JSON (`serde_json::Value`): a plain field reads
//! its wire property from the parent value, an upstream-backed field calls
//! [`FieldCall::call`](crate::resolve::FieldCall::call) and hands the answer to its children.
//! Conversions between GraphQL and wire spelling live in [`crate::resolve::Wire`].

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::dynamic::{
    Enum, EnumItem, Field as AgField, FieldFuture, FieldValue, InputObject,
    InputValue as AgInputValue, Object, ResolverContext, Scalar, Schema, SchemaBuilder,
    Subscription, SubscriptionField, SubscriptionFieldFuture, TypeRef as AgTypeRef, Union,
};
use async_graphql::{ErrorExtensions, Name, Value as GqlValue};
use futures::StreamExt;
use schema_gen::catalog::{Catalog, Field, InputValue, TypeKind, TypeRef};
use serde_json::{Map, Value};

use crate::error::{BuildError, ErrorKind, UpstreamError};
use crate::resolve::{
    FieldCall, RequestState, ShapeError, Wire, int64_from_str, is_int64, json_kind,
};
use crate::upstream;

/// Name of the scalar for any JSON value.
const JSON: &str = "JSON";
/// Name of the 64-bit integer scalar.
const INT64: &str = "Int64";

/// What building needs besides the catalog.
pub struct BuildOptions<'a> {
    pub introspection: bool,
    pub default_timeout: Duration,
    /// Every upstream-backed field's invoker ([`upstream::prepare_all`]).
    pub invokes: &'a upstream::Invokes,
}

/// Builds the executable schema of `catalog`.
pub fn schema(catalog: &Catalog, options: &BuildOptions<'_>) -> Result<Schema, BuildError> {
    let wire = Arc::new(Wire::new(catalog));
    let mutation = catalog
        .roots
        .mutation
        .as_deref()
        .filter(|m| catalog.object(m).is_some());
    let subscription = catalog
        .roots
        .subscription
        .as_deref()
        .filter(|s| catalog.object(s).is_some());
    let mut builder: SchemaBuilder = Schema::build(&catalog.roots.query, mutation, subscription)
        // Lets the plan executor validate through async-graphql without executing (issue 6).
        .extension(crate::plan::ValidateOnly);
    if !options.introspection {
        builder = builder.disable_introspection();
    }
    for scalar in [JSON, INT64] {
        if !catalog.types.contains_key(scalar) {
            builder = builder.register(scalar_type(scalar, None));
        }
    }
    for (name, def) in &catalog.types {
        if subscription == Some(name.as_str()) {
            if let TypeKind::Object(object) = &def.kind {
                let root = subscription_root(catalog, name, object, &wire, options)?;
                let root =
                    with_description(root, def.description.as_deref(), Subscription::description);
                builder = builder.register(root);
            }
            continue;
        }
        let description = def.description.as_deref();
        builder = match &def.kind {
            TypeKind::Scalar => builder.register(scalar_type(name, description)),
            TypeKind::Enum(e) => {
                let mut out = Enum::new(name);
                for value in e.values.values() {
                    let mut item = EnumItem::new(&value.name);
                    if let Some(d) = &value.description {
                        item = item.description(d);
                    }
                    if let Some(reason) = &value.deprecation {
                        item = item.deprecation(
                            Some(reason).filter(|r| !r.is_empty()).map(String::as_str),
                        );
                    }
                    out = out.item(item);
                }
                builder.register(with_description(out, description, Enum::description))
            }
            TypeKind::Input(input) => {
                let mut out = InputObject::new(name);
                for field in input.fields.values() {
                    out = out.field(input_value(field, &wire));
                }
                builder.register(with_description(out, description, InputObject::description))
            }
            TypeKind::Union(union) => {
                let mut out = Union::new(name);
                for member in &union.members {
                    out = out.possible_type(member);
                }
                builder.register(with_description(out, description, Union::description))
            }
            TypeKind::Object(object) => {
                let is_root = *name == catalog.roots.query || Some(name.as_str()) == mutation;
                let mut out = Object::new(name);
                for field in object.fields.values() {
                    let coordinate = format!("{name}.{}", field.name);
                    out = out.field(object_field(
                        catalog,
                        field,
                        &coordinate,
                        is_root,
                        &wire,
                        options,
                    )?);
                }
                builder.register(with_description(out, description, Object::description))
            }
        };
    }
    builder.finish().map_err(|e| BuildError::Schema(e.0))
}

/// The Subscription root: each upstream-backed field opens a stream (gRPC server
/// streaming); every upstream message is one response, an upstream error is the last one.
fn subscription_root(
    catalog: &Catalog,
    name: &str,
    object: &schema_gen::catalog::ObjectType,
    wire: &Arc<Wire>,
    options: &BuildOptions<'_>,
) -> Result<Subscription, BuildError> {
    let mut root = Subscription::new(name);
    for field in object.fields.values() {
        let coordinate = format!("{name}.{}", field.name);
        let Some(resolver) = &field.resolver else {
            return Err(BuildError::InvalidTemplate {
                coordinate,
                message: "a Subscription field needs a resolver directive".into(),
            });
        };
        let source = upstream::source_of(catalog, resolver, &coordinate)?;
        let invoke = upstream::prepared(options.invokes, &coordinate)?;
        let timeout = upstream::call_timeout(resolver, source, options.default_timeout);
        let args: Arc<Vec<(String, TypeRef, String)>> = Arc::new(
            field
                .args
                .values()
                .map(|a| (a.name.clone(), a.ty.clone(), a.wire().to_string()))
                .collect(),
        );
        let ty = Arc::new(field.ty.clone());
        let shared_wire = Arc::clone(wire);
        let mut out = SubscriptionField::new(&field.name, type_ref(&field.ty), move |ctx| {
            let (invoke, args, wire, ty) = (
                Arc::clone(&invoke),
                Arc::clone(&args),
                Arc::clone(&shared_wire),
                Arc::clone(&ty),
            );
            SubscriptionFieldFuture::new(async move {
                let state = ctx.data::<Arc<RequestState>>()?;
                let mut gql_args = Map::with_capacity(args.len());
                let mut wire_args = Map::with_capacity(args.len());
                for (arg, arg_ty, wire_name) in args.iter() {
                    if let Some(value) = ctx.args.get(arg) {
                        let json = value
                            .as_value()
                            .clone()
                            .into_json()
                            .map_err(|e| async_graphql::Error::new(e.to_string()))?;
                        let json = wire.input(json, arg_ty);
                        gql_args.insert(arg.clone(), json.clone());
                        wire_args.insert(wire_name.clone(), json);
                    }
                }
                let input = upstream::CallInput {
                    args: &gql_args,
                    wire_args: &wire_args,
                    parent: None,
                    headers: &state.headers,
                    projection: None,
                };
                let cx = upstream::SendContext {
                    deadline: tokio::time::Instant::now() + timeout,
                    request_id: Arc::clone(&state.request_id),
                };
                let source = invoke.source_name().to_string();
                let stream = invoke.subscribe(&input, cx).map(move |item| {
                    let value = item.map_err(upstream_error)?;
                    match shape(Cow::Owned(value), &ty, &wire) {
                        Ok(Some(shaped)) => Ok(shaped),
                        Ok(None) => Ok(FieldValue::NULL),
                        Err(e) => Err(shape_error(e, Some(&source))),
                    }
                });
                Ok(stream)
            })
        });
        for arg in field.args.values() {
            out = out.argument(input_value(arg, wire));
        }
        if let Some(d) = &field.description {
            out = out.description(d);
        }
        if let Some(reason) = &field.deprecation {
            out = out.deprecation(Some(reason.as_str()).filter(|r| !r.is_empty()));
        }
        root = root.field(out);
    }
    Ok(root)
}

fn with_description<T>(t: T, description: Option<&str>, set: fn(T, String) -> T) -> T {
    match description {
        Some(d) => set(t, d.to_string()),
        None => t,
    }
}

fn scalar_type(name: &str, description: Option<&str>) -> Scalar {
    let scalar = Scalar::new(name);
    match name {
        // Output: an integral number within 64 bits; input: also a decimal string.
        INT64 => scalar
            .description(description.unwrap_or(
                "A 64-bit integer, sent and received as a JSON number without loss; input also accepts a decimal string.",
            ))
            .validator(crate::resolve::int64_input_valid),
        JSON => scalar.description(description.unwrap_or("Any JSON value.")),
        _ => with_description(scalar, description, Scalar::description),
    }
}

fn type_ref(ty: &TypeRef) -> AgTypeRef {
    match ty {
        TypeRef::Named(name) => AgTypeRef::named(name),
        TypeRef::List(inner) => AgTypeRef::List(Box::new(type_ref(inner))),
        TypeRef::NonNull(inner) => AgTypeRef::NonNull(Box::new(type_ref(inner))),
    }
}

/// A default value as a GraphQL value: enum names become enum values, not strings.
fn default_value(value: &Value, ty: &TypeRef, wire: &Wire) -> Option<GqlValue> {
    match (value, ty) {
        (_, TypeRef::NonNull(inner)) => default_value(value, inner, wire),
        (Value::Array(items), TypeRef::List(inner)) => items
            .iter()
            .map(|i| default_value(i, inner, wire))
            .collect::<Option<Vec<_>>>()
            .map(GqlValue::List),
        (Value::String(s), TypeRef::Named(name)) if wire.is_enum(name) => {
            Some(GqlValue::Enum(Name::new(s)))
        }
        _ => GqlValue::from_json(value.clone()).ok(),
    }
}

fn input_value(value: &InputValue, wire: &Wire) -> AgInputValue {
    let mut out = AgInputValue::new(&value.name, type_ref(&value.ty));
    if let Some(d) = &value.description {
        out = out.description(d);
    }
    if let Some(reason) = &value.deprecation {
        out = out.deprecation(Some(reason.as_str()).filter(|r| !r.is_empty()));
    }
    if let Some(default) = value
        .default
        .as_ref()
        .and_then(|d| default_value(d, &value.ty, wire))
    {
        out = out.default_value(default);
    }
    out
}

fn object_field(
    catalog: &Catalog,
    field: &Field,
    coordinate: &str,
    is_root: bool,
    wire: &Arc<Wire>,
    options: &BuildOptions<'_>,
) -> Result<AgField, BuildError> {
    let ty = Arc::new(field.ty.clone());
    let mut out = match &field.resolver {
        None if is_root => {
            // A root field without a resolver has no parent value to read: it is always null.
            AgField::new(&field.name, type_ref(&field.ty), |_| {
                FieldFuture::Value(None)
            })
        }
        None => {
            let property = field.wire().to_string();
            let wire = Arc::clone(wire);
            AgField::new(&field.name, type_ref(&field.ty), move |ctx| {
                let child = ctx
                    .parent_value
                    .downcast_ref::<Value>()
                    .and_then(|parent| parent.get(&property));
                let shaped = match child {
                    None => Ok(None),
                    Some(child) => shape(Cow::Borrowed(child), &ty, &wire),
                };
                match shaped {
                    Ok(value) => FieldFuture::Value(value),
                    Err(e) => match report(&ctx, shape_error(e, None), &ty) {
                        Ok(none) => FieldFuture::Value(none),
                        Err(error) => {
                            FieldFuture::new(async move { Err::<Option<FieldValue>, _>(error) })
                        }
                    },
                }
            })
        }
        Some(resolver) => {
            let source = upstream::source_of(catalog, resolver, coordinate)?;
            let invoke = upstream::prepared(options.invokes, coordinate)?;
            let timeout = upstream::call_timeout(resolver, source, options.default_timeout);
            let call = Arc::new(FieldCall {
                invoke,
                timeout,
                shareable: source.policy.dedupe.unwrap_or(true),
                renamed_args: upstream::renamed_args(field),
            });
            let args: Arc<Vec<(String, TypeRef)>> = Arc::new(
                field
                    .args
                    .values()
                    .map(|a| (a.name.clone(), a.ty.clone()))
                    .collect(),
            );
            let wire = Arc::clone(wire);
            AgField::new(&field.name, type_ref(&field.ty), move |ctx| {
                let (call, args, wire, ty) = (
                    Arc::clone(&call),
                    Arc::clone(&args),
                    Arc::clone(&wire),
                    Arc::clone(&ty),
                );
                FieldFuture::new(
                    async move { resolve_upstream(ctx, &call, &args, &wire, &ty).await },
                )
            })
        }
    };
    for arg in field.args.values() {
        out = out.argument(input_value(arg, wire));
    }
    if let Some(d) = &field.description {
        out = out.description(d);
    }
    if let Some(reason) = &field.deprecation {
        out = out.deprecation(Some(reason.as_str()).filter(|r| !r.is_empty()));
    }
    Ok(out)
}

async fn resolve_upstream<'a>(
    ctx: ResolverContext<'a>,
    call: &FieldCall,
    args: &[(String, TypeRef)],
    wire: &Wire,
    ty: &TypeRef,
) -> async_graphql::Result<Option<FieldValue<'a>>> {
    let state = ctx.data::<Arc<RequestState>>()?;
    let mut wire_args = Map::with_capacity(args.len());
    for (name, arg_ty) in args {
        if let Some(value) = ctx.args.get(name) {
            let json = value
                .as_value()
                .clone()
                .into_json()
                .map_err(|e| async_graphql::Error::new(e.to_string()))?;
            wire_args.insert(name.clone(), wire.input(json, arg_ty));
        }
    }
    let parent = ctx.parent_value.downcast_ref::<Value>();
    let loaded = match call.call(state, &wire_args, parent).await {
        Ok(loaded) => loaded,
        Err(e) => return report(&ctx, upstream_error(e), ty),
    };
    let value = Arc::try_unwrap(loaded).unwrap_or_else(|shared| (*shared).clone());
    match shape(Cow::Owned(value), ty, wire) {
        Ok(shaped) => Ok(shaped),
        Err(e) => report(&ctx, shape_error(e, Some(call.invoke.source_name())), ty),
    }
}

/// Reports a field's error. A nullable field becomes null and the error is recorded with its
/// path (async-graphql's dynamic executor would otherwise drop the field and the path); a
/// non-null field returns the error so that it propagates.
fn report<'a>(
    ctx: &ResolverContext<'_>,
    error: async_graphql::Error,
    ty: &TypeRef,
) -> async_graphql::Result<Option<FieldValue<'a>>> {
    if ty.is_non_null() {
        return Err(error);
    }
    ctx.add_error(ctx.set_error_path(error.into_server_error(ctx.item.pos)));
    Ok(None)
}

/// An upstream error as a GraphQL error on its field.
pub fn upstream_error(error: UpstreamError) -> async_graphql::Error {
    let UpstreamError {
        kind,
        source_name,
        status,
        message,
        details,
    } = error;
    async_graphql::Error::new(message).extend_with(|_, e| {
        e.set("code", kind.code());
        e.set("source", source_name.as_str());
        if let Some(status) = status {
            e.set("status", i32::from(status));
        }
        if let Some(details) = details.and_then(|d| async_graphql::Value::from_json(*d).ok()) {
            e.set("details", details);
        }
    })
}

fn shape_error(error: ShapeError, source: Option<&str>) -> async_graphql::Error {
    async_graphql::Error::new(error.0).extend_with(|_, e| {
        e.set("code", ErrorKind::InvalidResponse.code());
        if let Some(source) = source {
            e.set("source", source);
        }
    })
}

/// Shapes an upstream JSON value for a field of type `ty`: lists stay lists, scalars become
/// GraphQL values, enums take their GraphQL names, objects and unions carry the JSON on to
/// their fields. `None` is GraphQL null.
fn shape<'a>(
    value: Cow<'a, Value>,
    ty: &TypeRef,
    wire: &Wire,
) -> Result<Option<FieldValue<'a>>, ShapeError> {
    match ty {
        TypeRef::NonNull(inner) => match shape(value, inner, wire)? {
            Some(v) => Ok(Some(v)),
            None => Err(ShapeError(format!(
                "the upstream sent null for the non-null type {ty}"
            ))),
        },
        TypeRef::List(inner) => {
            let items: Vec<Cow<'a, Value>> = match value {
                Cow::Borrowed(Value::Null) | Cow::Owned(Value::Null) => return Ok(None),
                Cow::Borrowed(Value::Array(items)) => items.iter().map(Cow::Borrowed).collect(),
                Cow::Owned(Value::Array(items)) => items.into_iter().map(Cow::Owned).collect(),
                other => {
                    return Err(ShapeError(format!(
                        "expected a list for {ty}, the upstream sent {}",
                        json_kind(&other)
                    )));
                }
            };
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(shape(item, inner, wire)?.unwrap_or(FieldValue::NULL));
            }
            Ok(Some(FieldValue::list(out)))
        }
        TypeRef::Named(name) => {
            if value.is_null() {
                return Ok(None);
            }
            named(value, name, wire).map(Some)
        }
    }
}

fn named<'a>(value: Cow<'a, Value>, name: &str, wire: &Wire) -> Result<FieldValue<'a>, ShapeError> {
    let mismatch = |value: &Value| {
        ShapeError(format!(
            "expected {name}, the upstream sent {}",
            json_kind(value)
        ))
    };
    let scalar = |v: GqlValue| Ok(FieldValue::value(v));
    match name {
        "String" | "ID" => match &*value {
            Value::String(s) => scalar(GqlValue::String(s.clone())),
            Value::Number(n) => scalar(GqlValue::String(n.to_string())),
            Value::Bool(b) => scalar(GqlValue::String(b.to_string())),
            other => Err(mismatch(other)),
        },
        "Int" => match &*value {
            Value::Number(n) if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) => {
                scalar(GqlValue::Number(n.clone()))
            }
            other => Err(mismatch(other)),
        },
        "Float" => match &*value {
            Value::Number(n) => scalar(GqlValue::Number(n.clone())),
            other => Err(mismatch(other)),
        },
        "Boolean" => match &*value {
            Value::Bool(b) => scalar(GqlValue::Boolean(*b)),
            other => Err(mismatch(other)),
        },
        INT64 => match &*value {
            v if is_int64(v) => {
                scalar(GqlValue::from_json(v.clone()).map_err(|e| ShapeError(e.to_string()))?)
            }
            Value::String(s) => match int64_from_str(s) {
                Some(n) => scalar(GqlValue::from_json(n).map_err(|e| ShapeError(e.to_string()))?),
                None => Err(mismatch(&value)),
            },
            other => Err(mismatch(other)),
        },
        _ if wire.is_enum(name) => match &*value {
            Value::String(s) => scalar(GqlValue::Enum(Name::new(wire.enum_name(name, s)?))),
            other => Err(mismatch(other)),
        },
        _ if wire.is_union(name) => {
            let member = wire.union_member(name, &value)?.to_string();
            Ok(any(value).with_type(member))
        }
        _ if wire.is_object(name) => match &*value {
            Value::Object(_) => Ok(any(value)),
            other => Err(mismatch(other)),
        },
        // JSON and other custom scalars pass through.
        _ => {
            scalar(GqlValue::from_json(value.into_owned()).map_err(|e| ShapeError(e.to_string()))?)
        }
    }
}

fn any(value: Cow<'_, Value>) -> FieldValue<'_> {
    match value {
        Cow::Borrowed(v) => FieldValue::borrowed_any(v),
        Cow::Owned(v) => FieldValue::owned_any(v),
    }
}
