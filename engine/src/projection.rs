//! Decoding only what an operation reads: a [`Projection`] names the properties a call's
//! answer must keep, and [`Projection::decode`] records just those onto a tape
//! ([`crate::decoded`]), skipping the rest of the bytes without allocating for them.
//!
//! The plan compiler derives one projection per call node from its selection (`compile.rs`):
//! the wire names of the selected fields, the parent properties that the links below read
//! (`{{parent.userId}}`), and batch item keys. Unions, `JSON` scalars and other leaves keep
//! their whole value (a union member may be recognised by its shape). Decoding is the largest
//! per-call cost of a JSON upstream (an answer of 100 posts, of which a query selects two
//! properties), so skipping is worth it. Because a projected answer lacks properties another
//! operation may need, the projection's [`Projection::fingerprint`] is part of every
//! rendered request's key: answers are shared and cached only between equal projections.
//!
//! An answer equal, byte for byte, to the last one for the same request and projection is
//! not decoded again ([`decode`]): its tape is kept, in a bounded process-wide memo.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::decoded::{Decoded, Tape, TapeTooLarge};

/// What to keep of a JSON value. Lists are transparent: a projection applies to each item.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Keep {
    /// The whole value.
    #[default]
    All,
    /// Of an object, only these properties (each with what to keep of it); a value that is
    /// not an object is kept whole.
    Fields(BTreeMap<String, Keep>),
}

impl Keep {
    /// Nothing yet: an object projection with no properties.
    pub fn none() -> Keep {
        Keep::Fields(BTreeMap::new())
    }

    /// Widens `self` so that it also keeps what `other` keeps.
    pub fn merge(&mut self, other: Keep) {
        match (self, other) {
            (Keep::All, _) => {}
            (this @ Keep::Fields(_), Keep::All) => *this = Keep::All,
            (Keep::Fields(mine), Keep::Fields(theirs)) => {
                for (name, keep) in theirs {
                    match mine.get_mut(&name) {
                        Some(existing) => existing.merge(keep),
                        None => {
                            mine.insert(name, keep);
                        }
                    }
                }
            }
        }
    }

    /// Keeps the value at `path` whole (the path of a `{{parent.a.b}}` a link reads).
    pub fn keep_path(&mut self, path: &[String]) {
        let Some((first, rest)) = path.split_first() else {
            *self = Keep::All;
            return;
        };
        if let Keep::Fields(fields) = self {
            let entry = fields.entry(first.clone()).or_insert_with(Keep::none);
            if rest.is_empty() {
                *entry = Keep::All;
            } else {
                entry.keep_path(rest);
            }
        }
    }

    /// Wraps `self` as what to keep at `path` (a batch answer's items list) of a value.
    pub fn under(self, path: &[String]) -> Keep {
        path.iter().rev().fold(self, |inner, name| {
            Keep::Fields(BTreeMap::from([(name.clone(), inner)]))
        })
    }

    fn write_fingerprint(&self, out: &mut String) {
        match self {
            Keep::All => out.push('*'),
            Keep::Fields(fields) => {
                out.push('{');
                for (i, (name, keep)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    // JSON-quoted, so no property name can forge the structure.
                    out.push_str(&Value::String(name.clone()).to_string());
                    if *keep != Keep::All {
                        keep.write_fingerprint(out);
                    }
                }
                out.push('}');
            }
        }
    }
}

/// A call node's projection, ready to decode with and to key by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    keep: Keep,
    shape: Shape,
    fingerprint: String,
}

/// A [`Keep`] as the decoders read it: an object's kept properties as a list in name order
/// (searched by bytes, where a map would be walked or hashed per property).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    All,
    Fields(Vec<(String, Shape)>),
}

impl Shape {
    fn of(keep: &Keep) -> Shape {
        match keep {
            Keep::All => Shape::All,
            Keep::Fields(fields) => Shape::Fields(
                fields
                    .iter()
                    .map(|(name, keep)| (name.clone(), Shape::of(keep)))
                    .collect(),
            ),
        }
    }
}

impl Projection {
    pub fn new(keep: Keep) -> Projection {
        let mut fingerprint = String::new();
        keep.write_fingerprint(&mut fingerprint);
        Projection {
            shape: Shape::of(&keep),
            keep,
            fingerprint,
        }
    }

    /// What is kept.
    pub fn keep(&self) -> &Keep {
        &self.keep
    }

    /// A canonical text of what is kept; equal projections have equal fingerprints.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Decodes JSON `bytes` into a tape, keeping what this projection keeps. Errors are those
    /// of `serde_json::from_slice` (skipped parts must be valid JSON too).
    pub fn decode(&self, bytes: &[u8]) -> serde_json::Result<Tape> {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let mut tape = Tape::with_capacity(bytes.len());
        Recorded {
            tape: &mut tape,
            shape: &self.shape,
        }
        .deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(tape)
    }
}

/// Decodes the answer to the request `key` with an optional projection (the plan
/// executor's), else whole into a `Value` (for async-graphql's resolvers): the one decode
/// step of JSON-answering transports.
///
/// A projected answer whose bytes equal the last answer to the same request key is not
/// decoded again: its tape is taken from [`RECENT`]. An upstream read again and again while
/// its answer does not change (a list, reference data; the kit's `/posts`, which each shared
/// execution fetches) then costs a comparison of bytes instead of a decode, which was ~11 %
/// of a shared Q1 request's instructions. Equal bytes and an equal projection (part of the
/// key) decode to an equal tape, so the key only chooses what to compare with.
pub fn decode(
    key: &str,
    bytes: &Bytes,
    projection: Option<&Projection>,
) -> serde_json::Result<Decoded> {
    let Some(projection) = projection else {
        return serde_json::from_slice(bytes).map(Decoded::Json);
    };
    if bytes.len() > MAX_RECENT_ANSWER_BYTES {
        return projection
            .decode(bytes)
            .map(|tape| Decoded::Tape(Arc::new(tape)));
    }
    if let Some(recent) = RECENT.get(key)
        && recent.bytes == *bytes
        && recent.fingerprint == projection.fingerprint
    {
        return Ok(Decoded::Tape(Arc::clone(&recent.tape)));
    }
    let tape = Arc::new(projection.decode(bytes)?);
    let recent = Recent {
        bytes: bytes.clone(),
        fingerprint: projection.fingerprint.clone(),
        tape: Arc::clone(&tape),
    };
    RECENT.insert(key.to_string(), Arc::new(recent));
    Ok(Decoded::Tape(tape))
}

/// Answers larger than this are decoded every time (and not kept).
pub const MAX_RECENT_ANSWER_BYTES: usize = 1024 * 1024;

/// Memory bound of [`RECENT`]: answers' bytes and tapes, keys included.
pub const RECENT_BYTES: u64 = 16 * 1024 * 1024;

/// The last projected answer to each request key and its tape, bounded by [`RECENT_BYTES`]
/// (process-wide, so gateways replaced on reload share one bound).
static RECENT: LazyLock<quick_cache::sync::Cache<String, Arc<Recent>, RecentWeight>> =
    LazyLock::new(|| quick_cache::sync::Cache::with_weighter(4096, RECENT_BYTES, RecentWeight));

/// An answer as received, the projection it was decoded with, and its tape.
struct Recent {
    bytes: Bytes,
    fingerprint: String,
    tape: Arc<Tape>,
}

#[derive(Clone)]
struct RecentWeight;

impl quick_cache::Weighter<String, Arc<Recent>> for RecentWeight {
    fn weight(&self, key: &String, recent: &Arc<Recent>) -> u64 {
        (key.len() + recent.bytes.len() + recent.fingerprint.len() + recent.tape.weight()) as u64
    }
}

/// Marks a rendered request's key with the projection its answer is decoded with, so only
/// equally projected answers are shared or cached: the one key rule of JSON transports.
pub fn mark_key(key: &mut String, projection: Option<&Projection>) {
    if let Some(projection) = projection {
        key.push_str("\nkeep:");
        key.push_str(projection.fingerprint());
    }
}

/// The kept property named by `name` (a property name's bytes, escapes decoded), with its
/// index. Names are compared as bytes: one that matches is valid UTF-8, being one of ours.
fn kept<'k>(fields: &'k [(String, Shape)], name: &[u8]) -> Option<(usize, &'k String, &'k Shape)> {
    let index = if fields.len() <= 8 {
        fields.iter().position(|(kept, _)| kept.as_bytes() == name)
    } else {
        fields
            .binary_search_by(|(kept, _)| kept.as_bytes().cmp(name))
            .ok()
    }?;
    fields.get(index).map(|(name, shape)| (index, name, shape))
}

/// A property name as bytes, borrowed from the input when it has no escapes: skipped
/// properties cost neither an allocation nor a UTF-8 check (the JSON syntax of the name,
/// escapes included, is still checked).
struct KeyName;

impl<'de> DeserializeSeed<'de> for KeyName {
    type Value = Cow<'de, [u8]>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_bytes(self)
    }
}

impl<'de> Visitor<'de> for KeyName {
    type Value = Cow<'de, [u8]>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a property name")
    }

    fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_vec()))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v.as_bytes()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.as_bytes().to_vec()))
    }
}

/// A value recorded onto a tape through its `Shape` (lists pass it on to their items).
struct Recorded<'t, 'k> {
    tape: &'t mut Tape,
    shape: &'k Shape,
}

/// A tape's limit, as a decode error.
fn fits<T, E: serde::de::Error>(result: Result<T, TapeTooLarge>) -> Result<T, E> {
    result.map_err(|TapeTooLarge| E::custom("the answer is too large to decode"))
}

impl<'de> DeserializeSeed<'de> for Recorded<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Recorded<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.tape.bool(v);
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.tape.number(v.into());
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.tape.number(v.into());
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        // As `Value::from(f64)`: a number JSON cannot spell becomes null.
        match serde_json::Number::from_f64(v) {
            Some(n) => self.tape.number(n),
            None => self.tape.null(),
        }
        Ok(())
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        fits(self.tape.string(v))
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.tape.null();
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.tape.null();
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let at = fits(self.tape.open(false))?;
        let mut count = 0;
        while seq
            .next_element_seed(Recorded {
                tape: &mut *self.tape,
                shape: self.shape,
            })?
            .is_some()
        {
            count += 1;
        }
        fits(self.tape.close(at, count, false))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let at = fits(self.tape.open(true))?;
        let mut count = 0;
        // Kept names seen, by index: a repeated one makes lookups read to the end, where
        // the last counts (as in a decoded `Value`). Wholly kept objects are not tracked.
        let mut seen = 0u64;
        let mut unique = matches!(self.shape, Shape::Fields(fields) if fields.len() <= 64);
        while let Some(name) = map.next_key_seed(KeyName)? {
            let shape = match self.shape {
                Shape::All => {
                    let name = std::str::from_utf8(&name).map_err(|_| {
                        serde::de::Error::custom("a property name is not valid UTF-8")
                    })?;
                    fits(self.tape.key(name))?;
                    self.shape
                }
                Shape::Fields(fields) => match kept(fields, &name) {
                    Some((index, name, shape)) => {
                        let bit = 1u64.checked_shl(index as u32).unwrap_or(0);
                        unique &= seen & bit == 0;
                        seen |= bit;
                        fits(self.tape.key(name))?;
                        shape
                    }
                    None => {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                },
            };
            map.next_value_seed(Recorded {
                tape: &mut *self.tape,
                shape,
            })?;
            count += 1;
        }
        fits(self.tape.close(at, count, unique))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(names: &[(&str, Keep)]) -> Keep {
        Keep::Fields(
            names
                .iter()
                .map(|(n, k)| (n.to_string(), k.clone()))
                .collect(),
        )
    }

    /// Decodes `bytes` through `keep` and reads the tape back as a value.
    fn decode(keep: &Keep, bytes: &[u8]) -> serde_json::Result<Value> {
        Projection::new(keep.clone())
            .decode(bytes)
            .map(|tape| Decoded::Tape(Arc::new(tape)).into_json())
    }

    #[test]
    fn an_answer_equal_to_the_last_one_for_its_key_reuses_its_tape() {
        let keep = fields(&[("id", Keep::All)]);
        let projection = Projection::new(keep.clone());
        let read = |key: &str, bytes: &[u8], projection: &Projection| {
            super::decode(key, &Bytes::copy_from_slice(bytes), Some(projection))
                .unwrap()
                .into_json()
        };
        let key = "test-recent\nGET /posts";
        assert_eq!(
            read(key, br#"[{"id":1,"x":0}]"#, &projection),
            json!([{"id": 1}])
        );
        // Changed bytes are decoded, never answered from the last ones.
        assert_eq!(
            read(key, br#"[{"id":2,"x":0}]"#, &projection),
            json!([{"id": 2}])
        );

        // Equal bytes take the kept tape: one planted under the key shows it is used.
        let tape = Projection::new(keep.clone())
            .decode(br#"[{"id":"planted"}]"#)
            .unwrap();
        let same = br#"[{"id":3}]"#;
        RECENT.insert(
            key.to_string(),
            Arc::new(Recent {
                bytes: Bytes::from_static(same),
                fingerprint: projection.fingerprint.clone(),
                tape: Arc::new(tape),
            }),
        );
        assert_eq!(read(key, same, &projection), json!([{"id": "planted"}]));
        // ...but not for another projection, whatever the key.
        let other = Projection::new(fields(&[("id", Keep::All), ("x", Keep::All)]));
        assert_eq!(read(key, same, &other), json!([{"id": 3}]));
        // Without a projection the whole answer is decoded.
        let whole = super::decode(key, &Bytes::from_static(same), None).unwrap();
        assert_eq!(whole.into_json(), json!([{"id": 3}]));
    }

    #[test]
    fn keeps_only_the_named_properties_of_every_list_item() {
        let keep = fields(&[("id", Keep::All), ("title", Keep::All)]);
        let bytes = br#"[{"id":1,"userId":7,"title":"a","body":"long \"text\"","x":{"y":[1,2]}},
                         {"id":2,"title":"b\u00e9"}, null, 3]"#;
        assert_eq!(
            decode(&keep, bytes).unwrap(),
            json!([{"id": 1, "title": "a"}, {"id": 2, "title": "bé"}, null, 3])
        );
    }

    #[test]
    fn nested_objects_are_projected_and_kept_values_are_whole() {
        let keep = fields(&[
            ("user", fields(&[("name", Keep::All)])),
            ("meta", Keep::All),
        ]);
        let value = decode(
            &keep,
            br#"{"user":{"name":"Ada","email":"a@x"},"meta":{"a":{"b":1}},"skip":[{}]}"#,
        )
        .unwrap();
        assert_eq!(
            value,
            json!({"user": {"name": "Ada"}, "meta": {"a": {"b": 1}}})
        );
        // A projected property whose value is not an object stays as it is.
        assert_eq!(
            decode(&keep, br#"{"user":"text"}"#).unwrap(),
            json!({"user": "text"})
        );
    }

    #[test]
    fn escaped_property_names_match_and_invalid_json_is_an_error_even_when_skipped() {
        let keep = fields(&[("a\"b", Keep::All)]);
        assert_eq!(
            decode(&keep, br#"{"a\"b":1,"c":2}"#).unwrap(),
            json!({"a\"b": 1})
        );
        assert!(decode(&keep, br#"{"c":[1,}"#).is_err());
        assert!(decode(&keep, br#"{"a\"b":1} trailing"#).is_err());
    }

    #[test]
    fn merging_widens_and_all_dominates() {
        let mut keep = fields(&[("a", fields(&[("x", Keep::All)]))]);
        keep.merge(fields(&[
            ("a", fields(&[("y", Keep::All)])),
            ("b", Keep::All),
        ]));
        assert_eq!(
            keep,
            fields(&[
                ("a", fields(&[("x", Keep::All), ("y", Keep::All)])),
                ("b", Keep::All)
            ])
        );
        keep.merge(Keep::All);
        assert_eq!(keep, Keep::All);
        assert_eq!(Projection::new(Keep::All).fingerprint(), "*");
    }

    #[test]
    fn parent_paths_and_item_paths_are_kept() {
        let mut keep = fields(&[("title", Keep::All)]);
        keep.keep_path(&["author".to_string(), "id".to_string()]);
        assert_eq!(
            keep,
            fields(&[
                ("title", Keep::All),
                ("author", fields(&[("id", Keep::All)]))
            ])
        );
        let wrapped = fields(&[("id", Keep::All)]).under(&["data".into(), "items".into()]);
        assert_eq!(
            decode(
                &wrapped,
                br#"{"data":{"items":[{"id":1,"n":2}],"next":null},"x":1}"#
            )
            .unwrap(),
            json!({"data": {"items": [{"id": 1}]}})
        );
    }

    #[test]
    fn fingerprints_are_canonical_and_distinguish_projections() {
        let a = Projection::new(fields(&[("b", Keep::All), ("a", Keep::All)]));
        let b = Projection::new(fields(&[("a", Keep::All), ("b", Keep::All)]));
        let c = Projection::new(fields(&[("a", Keep::All)]));
        let nested = Projection::new(fields(&[("a", fields(&[("b", Keep::All)]))]));
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_ne!(nested.fingerprint(), a.fingerprint());
        assert_eq!(a.fingerprint(), r#"{"a","b"}"#);
    }
}
