//! An upstream answer as decoded, and the one view ([`Val`]) the plan executor reads it
//! through.
//!
//! The plan executor decodes a JSON answer into a [`Tape`]: its nodes in one list and its
//! text in one string. A `serde_json::Value` costs an insertion-ordered map per object (two
//! allocations and a SipHash per property) and a `String` per kept property name and string;
//! building, reading and dropping those was most of a shared `{posts{id title}}` execution
//! (docs/performance.md, "Sixth session"). Answers stay `Value`s where async-graphql
//! resolves and where a transport builds them (gRPC messages).

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Number, Value};

/// An answer as decoded by [`crate::projection::decode`]. A tape is shared, not copied:
/// the same answer's tape may serve many executions (see [`crate::projection::decode`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    Json(Value),
    Tape(Arc<Tape>),
}

impl Decoded {
    pub fn into_json(self) -> Value {
        match self {
            Decoded::Json(value) => value,
            Decoded::Tape(tape) => tape.root().to_json().into_owned(),
        }
    }

    /// The answer's root, to read.
    pub fn view(&self) -> Val<'_> {
        match self {
            Decoded::Json(value) => Val::Json(value),
            Decoded::Tape(tape) => tape.root(),
        }
    }

    /// The items of the list at `path` (a batch answer's), each with the spot that
    /// [`Decoded::item`] reaches it by again, at once.
    pub fn items_at(&self, path: &[String]) -> Option<impl Iterator<Item = (usize, Val<'_>)>> {
        Some(
            self.view()
                .at_path(path)?
                .items()?
                .enumerate()
                .map(|(i, item)| match item {
                    Val::Tape(_, at) => (at, item),
                    Val::Json(_) => (i, item),
                }),
        )
    }

    /// The item at `spot` of the list at `path` (a spot from [`Decoded::items_at`]).
    pub fn item(&self, path: &[String], spot: usize) -> Option<Val<'_>> {
        match self {
            Decoded::Tape(tape) => tape.nodes.get(spot).map(|_| Val::Tape(tape, spot)),
            Decoded::Json(_) => self.view().at_path(path)?.items()?.nth(spot),
        }
    }

    /// Roughly the heap bytes held (what bounds the response cache's memory).
    pub fn approximate_size(&self) -> usize {
        match self {
            Decoded::Json(value) => crate::cache::approximate_size(value),
            Decoded::Tape(tape) => tape.weight(),
        }
    }
}

impl Default for Decoded {
    fn default() -> Self {
        Decoded::Json(Value::Null)
    }
}

impl From<Value> for Decoded {
    fn from(value: Value) -> Self {
        Decoded::Json(value)
    }
}

/// A JSON value as a flat list of nodes in document order; strings and property names are
/// ranges of one text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tape {
    nodes: Vec<Node>,
    text: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Number(Number),
    /// A string: its range of the text.
    Str(Span),
    /// A list of `len` items, which follow it; `end` is the node after the last one.
    List {
        len: u32,
        end: u32,
    },
    /// An object of `len` properties, each a `Key` followed by its value; `unique` when no
    /// name repeats (a lookup may stop at the first match).
    Object {
        len: u32,
        end: u32,
        unique: bool,
    },
    Key(Span),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Span {
    start: u32,
    len: u32,
}

/// A tape larger than `u32` offsets can address: never an upstream answer, whose size is
/// limited far below that.
#[derive(Debug)]
pub struct TapeTooLarge;

impl Tape {
    /// Roughly the heap bytes held.
    pub(crate) fn weight(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>() + self.text.capacity()
    }

    pub(crate) fn with_capacity(bytes: usize) -> Tape {
        // A rough guess from the answer's size (a node per 64 bytes, a quarter of the bytes
        // as kept text) spares most of the regrowth; too much is harmless and short-lived.
        Tape {
            nodes: Vec::with_capacity(bytes / 64),
            text: String::with_capacity(bytes / 4),
        }
    }

    fn root(&self) -> Val<'_> {
        Val::Tape(self, 0)
    }

    fn span(&mut self, text: &str) -> Result<Span, TapeTooLarge> {
        let start = u32::try_from(self.text.len()).map_err(|_| TapeTooLarge)?;
        let len = u32::try_from(text.len()).map_err(|_| TapeTooLarge)?;
        self.text.push_str(text);
        Ok(Span { start, len })
    }

    fn next_index(&self) -> Result<u32, TapeTooLarge> {
        u32::try_from(self.nodes.len()).map_err(|_| TapeTooLarge)
    }

    pub(crate) fn null(&mut self) {
        self.nodes.push(Node::Null);
    }

    pub(crate) fn bool(&mut self, value: bool) {
        self.nodes.push(Node::Bool(value));
    }

    pub(crate) fn number(&mut self, value: Number) {
        self.nodes.push(Node::Number(value));
    }

    pub(crate) fn string(&mut self, value: &str) -> Result<(), TapeTooLarge> {
        let span = self.span(value)?;
        self.nodes.push(Node::Str(span));
        Ok(())
    }

    pub(crate) fn key(&mut self, name: &str) -> Result<(), TapeTooLarge> {
        let span = self.span(name)?;
        self.nodes.push(Node::Key(span));
        Ok(())
    }

    /// Opens a list or an object: returns its node's index for [`Tape::close`].
    pub(crate) fn open(&mut self, object: bool) -> Result<usize, TapeTooLarge> {
        self.next_index()?;
        let (len, end) = (0, 0);
        self.nodes.push(if object {
            Node::Object {
                len,
                end,
                unique: false,
            }
        } else {
            Node::List { len, end }
        });
        Ok(self.nodes.len() - 1)
    }

    /// Closes the list or object opened at `at`, which holds `count` items or properties;
    /// `unique` when the object's property names are known to be distinct.
    pub(crate) fn close(
        &mut self,
        at: usize,
        count: usize,
        unique: bool,
    ) -> Result<(), TapeTooLarge> {
        let len = u32::try_from(count).map_err(|_| TapeTooLarge)?;
        let end = self.next_index()?;
        match self.nodes.get_mut(at) {
            Some(Node::List { len: l, end: e }) => (*l, *e) = (len, end),
            Some(Node::Object {
                len: l,
                end: e,
                unique: u,
            }) => (*l, *e, *u) = (len, end, unique),
            _ => {}
        }
        Ok(())
    }

    #[inline]
    fn bytes(&self, span: Span) -> &[u8] {
        let start = span.start as usize;
        self.text
            .as_bytes()
            .get(start..start + span.len as usize)
            .unwrap_or_default()
    }

    #[inline]
    fn text(&self, span: Span) -> &str {
        let start = span.start as usize;
        self.text
            .get(start..start + span.len as usize)
            .unwrap_or_default()
    }

    /// The index after the value at `at` (and everything inside it).
    #[inline]
    fn after(&self, at: usize) -> usize {
        match self.nodes.get(at) {
            Some(Node::List { end, .. } | Node::Object { end, .. }) => *end as usize,
            _ => at + 1,
        }
    }
}

/// A value the executor and the writer read: part of a `serde_json::Value`, or a node of a
/// [`Tape`].
#[derive(Debug, Clone, Copy)]
pub enum Val<'a> {
    Json(&'a Value),
    Tape(&'a Tape, usize),
}

static NULL: Value = Value::Null;

impl<'a> Val<'a> {
    /// The null value.
    pub fn null() -> Val<'a> {
        Val::Json(&NULL)
    }

    #[inline]
    fn node(self) -> Option<(&'a Tape, &'a Node)> {
        match self {
            Val::Tape(tape, at) => tape.nodes.get(at).map(|node| (tape, node)),
            Val::Json(_) => None,
        }
    }

    #[inline]
    pub fn is_null(self) -> bool {
        match self {
            Val::Json(value) => value.is_null(),
            Val::Tape(..) => matches!(self.node(), Some((_, Node::Null)) | None),
        }
    }

    #[inline]
    pub fn is_object(self) -> bool {
        match self {
            Val::Json(value) => value.is_object(),
            Val::Tape(..) => matches!(self.node(), Some((_, Node::Object { .. }))),
        }
    }

    #[inline]
    pub fn as_str(self) -> Option<&'a str> {
        match self {
            Val::Json(value) => value.as_str(),
            Val::Tape(..) => match self.node()? {
                (tape, Node::Str(span)) => Some(tape.text(*span)),
                _ => None,
            },
        }
    }

    #[inline]
    pub fn as_number(self) -> Option<&'a Number> {
        match self {
            Val::Json(Value::Number(n)) => Some(n),
            Val::Json(_) => None,
            Val::Tape(..) => match self.node()? {
                (_, Node::Number(n)) => Some(n),
                _ => None,
            },
        }
    }

    #[inline]
    pub fn as_bool(self) -> Option<bool> {
        match self {
            Val::Json(value) => value.as_bool(),
            Val::Tape(..) => match self.node()? {
                (_, Node::Bool(b)) => Some(*b),
                _ => None,
            },
        }
    }

    /// What the value is, for "expected X, the upstream sent Y" messages.
    pub fn kind(self) -> &'static str {
        match self {
            Val::Json(value) => crate::resolve::json_kind(value),
            Val::Tape(..) => match self.node() {
                None | Some((_, Node::Null | Node::Key(_))) => "null",
                Some((_, Node::Bool(_))) => "a boolean",
                Some((_, Node::Number(_))) => "a number",
                Some((_, Node::Str(_))) => "a string",
                Some((_, Node::List { .. })) => "a list",
                Some((_, Node::Object { .. })) => "an object",
            },
        }
    }

    /// A property of an object. As when a `Value` is decoded, the last of repeated names
    /// counts.
    pub fn property(self, name: &str) -> Option<Val<'a>> {
        match self {
            Val::Json(value) => property_of(value, name).map(Val::Json),
            Val::Tape(tape, at) => {
                let Some(Node::Object { len, unique, .. }) = tape.nodes.get(at) else {
                    return None;
                };
                let mut found = None;
                let mut key = at + 1;
                for _ in 0..*len {
                    if let Some(Node::Key(span)) = tape.nodes.get(key)
                        && tape.bytes(*span) == name.as_bytes()
                    {
                        found = Some(Val::Tape(tape, key + 1));
                        if *unique {
                            break;
                        }
                    }
                    key = tape.after(key + 1);
                }
                found
            }
        }
    }

    /// The value at a path of nested properties.
    pub fn at_path(self, path: &[String]) -> Option<Val<'a>> {
        path.iter().try_fold(self, |v, key| v.property(key))
    }

    /// A list's items.
    pub fn items(self) -> Option<Items<'a>> {
        match self {
            Val::Json(Value::Array(items)) => Some(Items::Json(items.iter())),
            Val::Json(_) => None,
            Val::Tape(tape, at) => match tape.nodes.get(at) {
                Some(Node::List { len, .. }) => Some(Items::Tape {
                    tape,
                    next: at + 1,
                    left: *len as usize,
                }),
                _ => None,
            },
        }
    }

    /// Identifies a value while its answer lives (its address): the executor records the
    /// calls below a value by it.
    pub fn addr(self) -> usize {
        match self {
            Val::Json(value) => value as *const Value as usize,
            Val::Tape(tape, at) => tape
                .nodes
                .get(at)
                .map_or(0, |node| node as *const Node as usize),
        }
    }

    /// The value as a `Value`: borrowed, or built from a tape (for what is needed as a whole:
    /// `JSON` scalars, union members, `{{parent.x}}` values, batch keys).
    pub fn to_json(self) -> Cow<'a, Value> {
        match self {
            Val::Json(value) => Cow::Borrowed(value),
            Val::Tape(tape, at) => Cow::Owned(build(tape, at)),
        }
    }
}

/// A property of a JSON object. Small objects (the common case) are scanned: comparing a
/// few short keys is cheaper than hashing the name.
fn property_of<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) if map.len() <= 12 => {
            map.iter().find(|(k, _)| k.as_str() == name).map(|(_, v)| v)
        }
        Value::Object(map) => map.get(name),
        _ => None,
    }
}

fn build(tape: &Tape, at: usize) -> Value {
    match tape.nodes.get(at) {
        None | Some(Node::Null | Node::Key(_)) => Value::Null,
        Some(Node::Bool(b)) => Value::Bool(*b),
        Some(Node::Number(n)) => Value::Number(n.clone()),
        Some(Node::Str(span)) => Value::String(tape.text(*span).to_owned()),
        Some(Node::List { .. }) => Val::Tape(tape, at)
            .items()
            .into_iter()
            .flatten()
            .map(|item| item.to_json().into_owned())
            .collect(),
        Some(Node::Object { len, .. }) => {
            let mut object = Map::with_capacity(*len as usize);
            let mut key = at + 1;
            for _ in 0..*len {
                if let Some(Node::Key(span)) = tape.nodes.get(key) {
                    object.insert(tape.text(*span).to_owned(), build(tape, key + 1));
                }
                key = tape.after(key + 1);
            }
            Value::Object(object)
        }
    }
}

/// The items of a list (see [`Val::items`]).
pub enum Items<'a> {
    Json(std::slice::Iter<'a, Value>),
    Tape {
        tape: &'a Tape,
        next: usize,
        left: usize,
    },
}

impl<'a> Iterator for Items<'a> {
    type Item = Val<'a>;

    fn nth(&mut self, n: usize) -> Option<Val<'a>> {
        match self {
            Items::Json(items) => items.nth(n).map(Val::Json),
            Items::Tape { .. } => {
                for _ in 0..n {
                    self.next()?;
                }
                self.next()
            }
        }
    }

    fn next(&mut self) -> Option<Val<'a>> {
        match self {
            Items::Json(items) => items.next().map(Val::Json),
            Items::Tape { tape, next, left } => {
                if *left == 0 {
                    return None;
                }
                let item = Val::Tape(tape, *next);
                *left -= 1;
                *next = tape.after(*next);
                Some(item)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::projection::{Keep, Projection};

    fn tape_of(text: &str) -> Decoded {
        let projection = Projection::new(Keep::All);
        Decoded::Tape(Arc::new(projection.decode(text.as_bytes()).unwrap()))
    }

    /// Reads `tape` and `json` side by side through every accessor the writer uses.
    fn same(tape: Val<'_>, json: Val<'_>) {
        assert_eq!(tape.kind(), json.kind());
        assert_eq!(tape.is_null(), json.is_null());
        assert_eq!(tape.is_object(), json.is_object());
        assert_eq!(tape.as_str(), json.as_str());
        assert_eq!(tape.as_number(), json.as_number());
        assert_eq!(tape.as_bool(), json.as_bool());
        assert_eq!(tape.to_json(), json.to_json());
        match (tape.items(), json.items()) {
            (Some(t), Some(j)) => {
                let (t, j): (Vec<_>, Vec<_>) = (t.collect(), j.collect());
                assert_eq!(t.len(), j.len());
                t.into_iter().zip(j).for_each(|(t, j)| same(t, j));
            }
            (t, j) => assert_eq!(t.is_some(), j.is_some()),
        }
        if let Value::Object(map) = json.to_json().as_ref() {
            for name in map.keys().map(String::as_str).chain(["missing"]) {
                match (tape.property(name), json.property(name)) {
                    (Some(t), Some(j)) => same(t, j),
                    (t, j) => assert_eq!(t.is_some(), j.is_some(), "{name}"),
                }
            }
        }
    }

    #[test]
    fn a_tape_reads_as_its_value_does() {
        let text = r#"[{"id":1,"t":"a\"b","n":null,"f":1.5,"b":true,"neg":-3,
                       "deep":{"l":[[],[{}],{"x":"y"}]},"e":""}, [], {}, "s", 18446744073709551615, null]"#;
        let value: Value = serde_json::from_str(text).unwrap();
        let tape = tape_of(text);
        same(tape.view(), Val::Json(&value));
        assert_eq!(tape.into_json(), value);
    }

    #[test]
    fn a_repeated_property_name_reads_its_last_value_as_a_decoded_value_does() {
        let text = r#"{"a":1,"b":[1,2],"a":{"c":2}}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(value, json!({"a": {"c": 2}, "b": [1, 2]}));
        let tape = tape_of(text);
        same(tape.view(), Val::Json(&value));
        assert_eq!(tape.into_json(), value);
    }

    #[test]
    fn a_repeated_kept_name_reads_its_last_value_and_distinct_names_their_own() {
        let keep = Keep::Fields(
            ["a", "b"]
                .into_iter()
                .map(|n| (n.to_string(), Keep::All))
                .collect(),
        );
        let projection = Projection::new(keep);
        let text = r#"[{"a":1,"x":0,"a":2,"b":3},{"b":4,"a":5}]"#;
        let tape = Decoded::Tape(Arc::new(projection.decode(text.as_bytes()).unwrap()));
        let read = |item: Val<'_>, name| item.property(name).and_then(Val::as_number).cloned();
        let items: Vec<Val<'_>> = tape.view().items().unwrap().collect();
        assert_eq!(read(items[0], "a"), Some(2.into()));
        assert_eq!(read(items[0], "b"), Some(3.into()));
        assert_eq!(read(items[1], "a"), Some(5.into()));
        assert_eq!(read(items[1], "x"), None);
    }

    #[test]
    fn distinct_nodes_have_distinct_addresses() {
        let tape = tape_of(r#"[1,2]"#);
        let items: Vec<usize> = tape.view().items().unwrap().map(Val::addr).collect();
        assert_ne!(items[0], items[1]);
        assert_ne!(tape.view().addr(), items[0]);
    }
}
