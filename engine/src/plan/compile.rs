//! Operation document → [`Plan`]: the selected operation's fields resolved against the
//! catalog once, so that executing it is a walk over prepared nodes.
//!
//! Field collection follows the spec's CollectFields: fragments and inline fragments are
//! expanded per concrete object type (so a union field gets one selection per member),
//! fields with the same response key merge their sub-selections, and `@skip`/`@include` are
//! decided here — their variable values are part of the plan's cache key
//! ([`skip_variables`]), which keeps the plan static.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, Field as QueryField, OperationDefinition,
    OperationType, Selection as QuerySelection, SelectionSet,
};
use async_graphql::{Name, Pos, Positioned};
use async_graphql_value::Value as GqlValue;
use indexmap::IndexMap;
use schema_gen::catalog::{Catalog, TypeKind, TypeRef};

use super::PreparedField;
use crate::projection::{Keep, Projection};

/// A compiled operation.
#[derive(Debug)]
pub struct Plan {
    pub root: Selection,
    /// Mutations run their root fields one after another.
    pub serial: bool,
    /// Every call of the plan is a read of a source that allows dedupe: identical in-flight
    /// executions of this plan may share one execution.
    pub dedupe_safe: bool,
    /// Number of call nodes; node ids are `0..calls`.
    pub calls: usize,
    /// The operation's `__schema` and `__type` fields alone, as a document of their own
    /// (with the fragments and variables they use): async-graphql answers it, and its
    /// values fill the plan's [`FieldSource::Introspection`] fields.
    pub introspection: Option<ExecutableDocument>,
}

/// The fields selected on one concrete object type, in response order.
#[derive(Debug, Default)]
pub struct Selection {
    pub fields: Vec<FieldPlan>,
}

/// What is selected below a field.
#[derive(Debug)]
pub enum Sub {
    Leaf,
    Object(Selection),
    /// One selection per union member, by member name.
    Union(Vec<(String, Selection)>),
}

impl Sub {
    /// The selections below the field (one per union member).
    pub fn selections(&self) -> Vec<&Selection> {
        match self {
            Sub::Leaf => Vec::new(),
            Sub::Object(selection) => vec![selection],
            Sub::Union(members) => members.iter().map(|(_, s)| s).collect(),
        }
    }

    fn selections_mut(&mut self) -> Vec<&mut Selection> {
        match self {
            Sub::Leaf => Vec::new(),
            Sub::Object(selection) => vec![selection],
            Sub::Union(members) => members.iter_mut().map(|(_, s)| s).collect(),
        }
    }

    /// The selection for a value of object type `member` (for unions: that member's).
    pub fn for_member(&self, member: &str) -> Option<&Selection> {
        match self {
            Sub::Leaf => None,
            Sub::Object(selection) => Some(selection),
            Sub::Union(members) => members.iter().find(|(m, _)| m == member).map(|(_, s)| s),
        }
    }
}

/// What the named type at the bottom of a field's type is, decided once here so that
/// writing a value needs no lookup by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `String` and `ID`.
    Text,
    Int,
    Float,
    Boolean,
    Int64,
    Enum,
    Union,
    Object,
    /// `JSON` and other custom scalars: passed through.
    Json,
}

impl Kind {
    /// In the order `build.rs` shapes values: built-in scalar names first.
    pub fn of(catalog: &Catalog, name: &str) -> Kind {
        match name {
            "String" | "ID" => Kind::Text,
            "Int" => Kind::Int,
            "Float" => Kind::Float,
            "Boolean" => Kind::Boolean,
            "Int64" => Kind::Int64,
            _ => match catalog.types.get(name).map(|t| &t.kind) {
                Some(TypeKind::Enum(_)) => Kind::Enum,
                Some(TypeKind::Union(_)) => Kind::Union,
                Some(TypeKind::Object(_)) => Kind::Object,
                _ => Kind::Json,
            },
        }
    }
}

#[derive(Debug)]
pub struct FieldPlan {
    /// The response key (alias or name).
    pub key: String,
    /// `"key":` as JSON, written as is.
    pub key_json: Vec<u8>,
    pub pos: Pos,
    pub source: FieldSource,
    pub ty: TypeRef,
    pub kind: Kind,
    pub sub: Sub,
}

#[derive(Debug)]
pub enum FieldSource {
    Typename(String),
    /// Reads this property of the parent value.
    Property(String),
    /// A root field without a resolver: always null.
    Null,
    Call(CallNode),
    /// `__schema` or `__type` on the query root: its value is taken from the answer to
    /// [`Plan::introspection`] under the field's response key.
    Introspection,
}

#[derive(Debug)]
pub struct CallNode {
    pub id: usize,
    pub field: Arc<PreparedField>,
    /// Arguments given in the document (may reference variables); the rest take defaults.
    pub args: Vec<(Name, GqlValue)>,
    /// The parent properties the call's templates read (`{{parent.userId}}`).
    pub parent_reads: Vec<Vec<String>>,
    /// What of the call's answer the operation reads (set once the selection below is
    /// compiled).
    pub projection: Option<Arc<Projection>>,
    /// The same for the answer of the call's batch form (its items, keyed).
    pub batch_projection: Option<Arc<Projection>>,
    /// Whether a field below this call calls an upstream too: only then does the executor
    /// look into the answer for the next level's calls.
    pub calls_below: bool,
}

/// Why an operation is left to async-graphql's executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    /// A field the catalog does not know (introspection below the query root).
    Introspection,
    Subscription,
    /// No operation matches the request (async-graphql reports it).
    NoOperation,
}

/// Why a document yields no operation to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoOperation {
    /// `operationName` names no operation of the document.
    Unknown(String),
    /// The document has several operations and the request names none.
    NameRequired,
}

/// The operation a request selects (the spec's GetOperation): the one place the server (to
/// type and refuse requests) and the plan executor select it.
pub fn select_operation<'d>(
    doc: &'d ExecutableDocument,
    name: Option<&str>,
) -> Result<&'d Positioned<OperationDefinition>, NoOperation> {
    let unknown = |name: &str| NoOperation::Unknown(name.to_string());
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), None) => Ok(op),
        (DocumentOperations::Single(_), Some(name)) => Err(unknown(name)),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get(name).ok_or_else(|| unknown(name))
        }
        (DocumentOperations::Multiple(ops), None) => match ops.values().next() {
            Some(op) if ops.len() == 1 => Ok(op),
            _ => Err(NoOperation::NameRequired),
        },
    }
}

/// The selected operation, when there is one (see [`select_operation`]).
pub fn operation<'d>(
    doc: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d Positioned<OperationDefinition>> {
    select_operation(doc, name).ok()
}

/// Variables that `@skip(if:)` / `@include(if:)` read anywhere in the document, in a stable
/// order: their values select the plan.
pub fn skip_variables(doc: &ExecutableDocument) -> Vec<Name> {
    fn visit(set: &SelectionSet, out: &mut Vec<Name>) {
        for item in &set.items {
            let (directives, inner) = match &item.node {
                QuerySelection::Field(f) => (&f.node.directives, Some(&f.node.selection_set.node)),
                QuerySelection::FragmentSpread(s) => (&s.node.directives, None),
                QuerySelection::InlineFragment(f) => {
                    (&f.node.directives, Some(&f.node.selection_set.node))
                }
            };
            for d in directives {
                if let Some(arg) = d.node.get_argument("if")
                    && let GqlValue::Variable(name) = &arg.node
                    && !out.contains(name)
                {
                    out.push(name.clone());
                }
            }
            if let Some(inner) = inner {
                visit(inner, out);
            }
        }
    }
    let mut out = Vec::new();
    for (_, op) in doc.operations.iter() {
        visit(&op.node.selection_set.node, &mut out);
    }
    let mut names: Vec<&Name> = doc.fragments.keys().collect();
    names.sort();
    for name in names {
        if let Some(fragment) = doc.fragments.get(name) {
            visit(&fragment.node.selection_set.node, &mut out);
        }
    }
    out
}

/// Compiles `op` of `doc`. `skip_values` holds the boolean value of each variable in
/// [`skip_variables`] order (absent variables are false).
pub fn compile(
    catalog: &Catalog,
    fields: &HashMap<(String, String), Arc<PreparedField>>,
    doc: &ExecutableDocument,
    op: &OperationDefinition,
    skip_vars: &[Name],
    skip_values: &[bool],
) -> Result<Plan, Unsupported> {
    let (root_type, serial) = match op.ty {
        OperationType::Query => (catalog.roots.query.clone(), false),
        OperationType::Mutation => (
            catalog
                .roots
                .mutation
                .clone()
                .ok_or(Unsupported::NoOperation)?,
            true,
        ),
        OperationType::Subscription => return Err(Unsupported::Subscription),
    };
    let mut compiler = Compiler {
        catalog,
        fields,
        doc,
        skip_vars,
        skip_values,
        next_id: 0,
        dedupe_safe: true,
        introspection: (op.ty == OperationType::Query).then(Vec::new),
    };
    let mut root = compiler.selection(&[&op.selection_set.node], &root_type, true)?;
    unify_projections(&mut root);
    let introspection = compiler
        .introspection
        .filter(|fields| !fields.is_empty())
        .map(|fields| introspection_document(doc, op, &fields));
    Ok(Plan {
        root,
        serial,
        // An operation's introspection is answered per request, outside the shared run.
        dedupe_safe: compiler.dedupe_safe && !serial && introspection.is_none(),
        calls: compiler.next_id,
        introspection,
    })
}

/// A query of `fields` alone (with their aliases, without the directives already decided),
/// the fragments they spread and the variable definitions they read: the document
/// async-graphql answers for the plan's introspection fields. Unused fragments and variables
/// would make it invalid.
fn introspection_document(
    doc: &ExecutableDocument,
    op: &OperationDefinition,
    fields: &[&Positioned<QueryField>],
) -> ExecutableDocument {
    let mut fragments = HashMap::new();
    let mut variables = HashSet::new();
    let mut pending: Vec<&SelectionSet> = Vec::new();
    let mut items = Vec::with_capacity(fields.len());
    for field in fields {
        let mut field = (*field).clone();
        field.node.directives.clear();
        for (_, value) in &field.node.arguments {
            value_variables(&value.node, &mut variables);
        }
        items.push(Positioned::new(
            QuerySelection::Field(field),
            op.selection_set.pos,
        ));
    }
    for field in fields {
        pending.push(&field.node.selection_set.node);
    }
    while let Some(set) = pending.pop() {
        for item in &set.items {
            let (directives, inner) = match &item.node {
                QuerySelection::Field(f) => {
                    for (_, value) in &f.node.arguments {
                        value_variables(&value.node, &mut variables);
                    }
                    (&f.node.directives, &f.node.selection_set.node)
                }
                QuerySelection::InlineFragment(f) => {
                    (&f.node.directives, &f.node.selection_set.node)
                }
                QuerySelection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    for d in &spread.node.directives {
                        for (_, value) in &d.node.arguments {
                            value_variables(&value.node, &mut variables);
                        }
                    }
                    if let Some(fragment) = doc.fragments.get(name)
                        && !fragments.contains_key(name)
                    {
                        fragments.insert(name.clone(), fragment.clone());
                        pending.push(&fragment.node.selection_set.node);
                    }
                    continue;
                }
            };
            for d in directives {
                for (_, value) in &d.node.arguments {
                    value_variables(&value.node, &mut variables);
                }
            }
            pending.push(inner);
        }
    }
    let query = OperationDefinition {
        ty: OperationType::Query,
        variable_definitions: op
            .variable_definitions
            .iter()
            .filter(|d| variables.contains(&d.node.name.node))
            .cloned()
            .collect(),
        directives: Vec::new(),
        selection_set: Positioned::new(SelectionSet { items }, op.selection_set.pos),
    };
    ExecutableDocument {
        operations: DocumentOperations::Single(Positioned::new(query, op.selection_set.pos)),
        fragments,
    }
}

/// The variables `value` reads, at any depth.
fn value_variables(value: &GqlValue, out: &mut HashSet<Name>) {
    match value {
        GqlValue::Variable(name) => {
            out.insert(name.clone());
        }
        GqlValue::List(items) => items.iter().for_each(|v| value_variables(v, out)),
        GqlValue::Object(properties) => properties.values().for_each(|v| value_variables(v, out)),
        _ => {}
    }
}

struct Compiler<'a> {
    catalog: &'a Catalog,
    fields: &'a HashMap<(String, String), Arc<PreparedField>>,
    doc: &'a ExecutableDocument,
    skip_vars: &'a [Name],
    skip_values: &'a [bool],
    next_id: usize,
    dedupe_safe: bool,
    /// A query's root `__schema` and `__type` fields (every occurrence); `None` for other
    /// operations, where async-graphql reports them.
    introspection: Option<Vec<&'a Positioned<QueryField>>>,
}

impl<'a> Compiler<'a> {
    fn flag(&self, value: &GqlValue) -> bool {
        match value {
            GqlValue::Boolean(b) => *b,
            GqlValue::Variable(name) => self
                .skip_vars
                .iter()
                .position(|v| v == name)
                .and_then(|i| self.skip_values.get(i))
                .copied()
                .unwrap_or(false),
            _ => false,
        }
    }

    /// `@skip(if: true)` or `@include(if: false)`.
    fn skipped(&self, directives: &[Positioned<Directive>]) -> bool {
        directives.iter().any(|d| {
            let condition = d.node.get_argument("if").map(|v| self.flag(&v.node));
            matches!(
                (d.node.name.node.as_str(), condition),
                ("skip", Some(true)) | ("include", Some(false))
            )
        })
    }

    fn applies(&self, condition: &str, object: &str) -> bool {
        condition == object
            || matches!(self.catalog.types.get(condition).map(|t| &t.kind),
                Some(TypeKind::Union(u)) if u.members.iter().any(|m| m == object))
    }

    fn collect(
        &self,
        set: &'a SelectionSet,
        object: &str,
        out: &mut IndexMap<&'a str, Vec<&'a Positioned<QueryField>>>,
        visited: &mut HashSet<&'a str>,
    ) {
        for item in &set.items {
            match &item.node {
                QuerySelection::Field(field) => {
                    if !self.skipped(&field.node.directives) {
                        out.entry(field.node.response_key().node.as_str())
                            .or_default()
                            .push(field);
                    }
                }
                QuerySelection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if self.skipped(&spread.node.directives) || !visited.insert(name) {
                        continue;
                    }
                    if let Some(fragment) = self.doc.fragments.get(name)
                        && self.applies(&fragment.node.type_condition.node.on.node, object)
                    {
                        self.collect(&fragment.node.selection_set.node, object, out, visited);
                    }
                }
                QuerySelection::InlineFragment(inline) => {
                    if self.skipped(&inline.node.directives) {
                        continue;
                    }
                    let applies = inline
                        .node
                        .type_condition
                        .as_ref()
                        .is_none_or(|c| self.applies(&c.node.on.node, object));
                    if applies {
                        self.collect(&inline.node.selection_set.node, object, out, visited);
                    }
                }
            }
        }
    }

    fn selection(
        &mut self,
        sets: &[&'a SelectionSet],
        object: &str,
        is_root: bool,
    ) -> Result<Selection, Unsupported> {
        let mut grouped: IndexMap<&'a str, Vec<&'a Positioned<QueryField>>> = IndexMap::new();
        let mut visited = HashSet::new();
        for set in sets {
            self.collect(set, object, &mut grouped, &mut visited);
        }
        let Some(def) = self.catalog.object(object) else {
            return Err(Unsupported::Introspection);
        };
        let mut out = Vec::with_capacity(grouped.len());
        for (key, occurrences) in grouped {
            let Some(first) = occurrences.first() else {
                continue;
            };
            let name = first.node.name.node.as_str();
            let key_json = {
                let mut bytes = serde_json::to_vec(key).unwrap_or_default();
                bytes.push(b':');
                bytes
            };
            if is_root
                && matches!(name, "__schema" | "__type")
                && let Some(introspection) = &mut self.introspection
            {
                introspection.extend(occurrences.iter().copied());
                out.push(FieldPlan {
                    key: key.to_string(),
                    key_json,
                    pos: first.pos,
                    source: FieldSource::Introspection,
                    ty: TypeRef::named("JSON"),
                    kind: Kind::Json,
                    sub: Sub::Leaf,
                });
                continue;
            }
            if name == "__typename" {
                out.push(FieldPlan {
                    key: key.to_string(),
                    key_json,
                    pos: first.pos,
                    source: FieldSource::Typename(object.to_string()),
                    ty: TypeRef::named("String").non_null(),
                    kind: Kind::Text,
                    sub: Sub::Leaf,
                });
                continue;
            }
            let Some(field) = def.fields.get(name) else {
                return Err(Unsupported::Introspection);
            };
            let source = match &field.resolver {
                Some(resolver) => {
                    let prepared = self
                        .fields
                        .get(&(object.to_string(), name.to_string()))
                        .ok_or(Unsupported::Introspection)?;
                    self.dedupe_safe &= prepared.shareable && prepared.invoke.is_read();
                    let id = self.next_id;
                    self.next_id += 1;
                    FieldSource::Call(CallNode {
                        id,
                        field: Arc::clone(prepared),
                        args: first
                            .node
                            .arguments
                            .iter()
                            .map(|(n, v)| (n.node.clone(), v.node.clone()))
                            .collect(),
                        parent_reads: resolver
                            .call
                            .reads(schema_gen::template::Scope::Parent)
                            .into_iter()
                            .map(<[String]>::to_vec)
                            .collect(),
                        projection: None,
                        batch_projection: None,
                        calls_below: false,
                    })
                }
                None if is_root => FieldSource::Null,
                None => FieldSource::Property(field.wire().to_string()),
            };
            let subsets: Vec<&'a SelectionSet> = occurrences
                .iter()
                .map(|f| &f.node.selection_set.node)
                .collect();
            let base = field.ty.base();
            let sub = match self.catalog.types.get(base).map(|t| &t.kind) {
                Some(TypeKind::Object(_)) => Sub::Object(self.selection(&subsets, base, false)?),
                Some(TypeKind::Union(union)) => {
                    let mut members = Vec::with_capacity(union.members.len());
                    for member in &union.members {
                        members.push((member.clone(), self.selection(&subsets, member, false)?));
                    }
                    Sub::Union(members)
                }
                _ => Sub::Leaf,
            };
            let mut source = source;
            if let FieldSource::Call(node) = &mut source {
                let keep = keep_of(&sub);
                node.batch_projection = node.field.batch.as_ref().map(|batch| {
                    let mut items = keep.clone();
                    items.keep_path(std::slice::from_ref(&batch.item_key));
                    Arc::new(Projection::new(items.under(&batch.items)))
                });
                node.projection = Some(Arc::new(Projection::new(keep)));
                node.calls_below = calls_below(&sub);
            }
            out.push(FieldPlan {
                key: key.to_string(),
                key_json,
                pos: first.pos,
                source,
                ty: field.ty.clone(),
                kind: Kind::of(self.catalog, base),
                sub,
            });
        }
        Ok(Selection { fields: out })
    }
}

/// What an operation reads of the values below a field: the wire names of the properties
/// its selection reads, and the parent properties of the links below. Unions keep whole
/// values (a member may be recognised by its shape), as do leaves.
fn keep_of(sub: &Sub) -> Keep {
    let Sub::Object(selection) = sub else {
        return Keep::All;
    };
    let mut keep = Keep::none();
    for field in &selection.fields {
        match &field.source {
            FieldSource::Typename(_) | FieldSource::Null | FieldSource::Introspection => {}
            FieldSource::Property(wire) => keep.merge(Keep::Fields(
                [(wire.clone(), keep_of(&field.sub))].into_iter().collect(),
            )),
            FieldSource::Call(node) => {
                for path in &node.parent_reads {
                    keep.keep_path(path);
                }
            }
        }
    }
    keep
}

/// Whether a field below `sub` calls an upstream.
fn calls_below(sub: &Sub) -> bool {
    sub.selections().into_iter().any(|selection| {
        selection
            .fields
            .iter()
            .any(|f| matches!(f.source, FieldSource::Call(_)) || calls_below(&f.sub))
    })
}

/// Gives every call node of the same field the union of their projections, so that calls
/// rendered alike (`author { id }` and `again: author { name }` for one post) keep one key
/// and still run once per request.
fn unify_projections(root: &mut Selection) {
    type Keeps = HashMap<*const PreparedField, (Keep, Keep)>;
    fn keep_of_projection(projection: &Option<Arc<Projection>>) -> Keep {
        projection.as_ref().map_or(Keep::All, |p| p.keep().clone())
    }
    fn gather(selection: &Selection, keeps: &mut Keeps) {
        for field in &selection.fields {
            if let FieldSource::Call(node) = &field.source {
                let mine = (
                    keep_of_projection(&node.projection),
                    keep_of_projection(&node.batch_projection),
                );
                match keeps.get_mut(&Arc::as_ptr(&node.field)) {
                    Some((keep, batch)) => {
                        keep.merge(mine.0);
                        batch.merge(mine.1);
                    }
                    None => {
                        keeps.insert(Arc::as_ptr(&node.field), mine);
                    }
                }
            }
            for member in field.sub.selections() {
                gather(member, keeps);
            }
        }
    }
    fn assign(selection: &mut Selection, keeps: &Keeps) {
        for field in &mut selection.fields {
            if let FieldSource::Call(node) = &mut field.source
                && let Some((keep, batch)) = keeps.get(&Arc::as_ptr(&node.field))
            {
                node.projection = Some(Arc::new(Projection::new(keep.clone())));
                if node.batch_projection.is_some() {
                    node.batch_projection = Some(Arc::new(Projection::new(batch.clone())));
                }
            }
            for member in field.sub.selections_mut() {
                assign(member, keeps);
            }
        }
    }
    let mut keeps = Keeps::new();
    gather(root, &mut keeps);
    assign(root, &keeps);
}
