//! Static limits on an operation document, checked before anything executes: selection
//! depth, complexity (fields selected, fragments expanded) and aliases.
//!
//! graft computes these itself rather than using async-graphql's limits, so that each
//! refusal carries a stable `extensions.code` and aliases are limited at all. Fragment
//! results are memoised, so nested fragments cannot make the check itself exponential, and
//! fragment cycles (which validation rejects later) count as empty.

use std::collections::HashMap;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::{Name, ServerError};

use crate::gateway::Limits;

/// A limit the document exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Depth { found: usize, max: usize },
    Complexity { found: usize, max: usize },
    Aliases { found: usize, max: usize },
}

impl Exceeded {
    pub fn code(self) -> &'static str {
        match self {
            Exceeded::Depth { .. } => "DEPTH_LIMIT",
            Exceeded::Complexity { .. } => "COMPLEXITY_LIMIT",
            Exceeded::Aliases { .. } => "ALIAS_LIMIT",
        }
    }

    /// The refusal as a GraphQL request error.
    pub fn into_server_error(self) -> ServerError {
        let message = match self {
            Exceeded::Depth { found, max } => {
                format!("the query is nested {found} levels deep; the limit is {max}")
            }
            Exceeded::Complexity { found, max } => {
                format!("the query selects {found} fields (fragments expanded); the limit is {max}")
            }
            Exceeded::Aliases { found, max } => {
                format!("the query uses {found} aliases; the limit is {max}")
            }
        };
        let mut error = ServerError::new(message, None);
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("code", self.code());
        error.extensions = Some(extensions);
        error
    }
}

/// Depth and complexity of a selection set.
#[derive(Debug, Clone, Copy, Default)]
struct Measure {
    depth: usize,
    fields: usize,
}

struct Walker<'a> {
    doc: &'a ExecutableDocument,
    memo: HashMap<&'a Name, Measure>,
    in_progress: Vec<&'a Name>,
}

impl<'a> Walker<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> Measure {
        let mut total = Measure::default();
        for item in &set.items {
            let m = match &item.node {
                Selection::Field(field) => {
                    let inner = self.selection_set(&field.node.selection_set.node);
                    Measure {
                        depth: inner.depth.saturating_add(1),
                        fields: inner.fields.saturating_add(1),
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.selection_set(&fragment.node.selection_set.node)
                }
                Selection::FragmentSpread(spread) => self.fragment(&spread.node.fragment_name.node),
            };
            total.depth = total.depth.max(m.depth);
            total.fields = total.fields.saturating_add(m.fields);
        }
        total
    }

    fn fragment(&mut self, name: &'a Name) -> Measure {
        if let Some(m) = self.memo.get(name) {
            return *m;
        }
        if self.in_progress.contains(&name) {
            return Measure::default();
        }
        let Some(definition) = self.doc.fragments.get(name) else {
            return Measure::default();
        };
        self.in_progress.push(name);
        let m = self.selection_set(&definition.node.selection_set.node);
        self.in_progress.pop();
        self.memo.insert(name, m);
        m
    }
}

fn count_aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some())
                    + count_aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => count_aliases(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Checks the operation that will run (`operation_name`, or every operation when it is not
/// given or not found; async-graphql reports the missing operation itself) and the aliases
/// of the whole document.
pub fn check(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    limits: &Limits,
) -> Result<(), Exceeded> {
    let aliases: usize = doc
        .operations
        .iter()
        .map(|(_, op)| count_aliases(&op.node.selection_set.node))
        .sum::<usize>()
        + doc
            .fragments
            .values()
            .map(|f| count_aliases(&f.node.selection_set.node))
            .sum::<usize>();
    if aliases > limits.max_aliases {
        return Err(Exceeded::Aliases {
            found: aliases,
            max: limits.max_aliases,
        });
    }
    let selected: Vec<_> = match (&doc.operations, operation_name) {
        (DocumentOperations::Multiple(ops), Some(name)) if ops.contains_key(name) => ops
            .iter()
            .filter(|(n, _)| n.as_str() == name)
            .map(|(_, op)| op)
            .collect(),
        _ => doc.operations.iter().map(|(_, op)| op).collect(),
    };
    let mut walker = Walker {
        doc,
        memo: HashMap::new(),
        in_progress: Vec::new(),
    };
    for op in selected {
        let m = walker.selection_set(&op.node.selection_set.node);
        if m.depth > limits.max_depth {
            return Err(Exceeded::Depth {
                found: m.depth,
                max: limits.max_depth,
            });
        }
        if m.fields > limits.max_complexity {
            return Err(Exceeded::Complexity {
                found: m.fields,
                max: limits.max_complexity,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_depth: 3,
            max_complexity: 10,
            max_aliases: 2,
            max_upstream_calls: 10,
        }
    }

    fn check_str(query: &str) -> Result<(), Exceeded> {
        let doc = async_graphql::parser::parse_query(query).unwrap();
        check(&doc, None, &limits())
    }

    #[test]
    fn depth_counts_through_fragments() {
        assert!(check_str("{ a { b { c } } }").is_ok());
        assert_eq!(
            check_str("{ a { ...F } } fragment F on T { b { c { d } } }"),
            Err(Exceeded::Depth { found: 4, max: 3 })
        );
    }

    #[test]
    fn complexity_expands_fragments_without_blowing_up() {
        let q = "{ ...A } fragment A on Q { ...B ...B } fragment B on Q { ...C ...C } fragment C on Q { x y z }";
        assert_eq!(
            check_str(q),
            Err(Exceeded::Complexity { found: 12, max: 10 })
        );
        let bomb = (0..40)
            .map(|i| format!("fragment F{i} on Q {{ ...F{} ...F{} }}", i + 1, i + 1))
            .collect::<String>();
        let result = check_str(&format!("{{ ...F0 }} {bomb} fragment F40 on Q {{ x }}"));
        assert!(matches!(result, Err(Exceeded::Complexity { .. })));
    }

    #[test]
    fn aliases_are_counted_in_the_whole_document() {
        assert!(check_str("{ a: x b: x }").is_ok());
        assert_eq!(
            check_str("{ a: x b: x ...F } fragment F on Q { c: x }"),
            Err(Exceeded::Aliases { found: 3, max: 2 })
        );
    }

    #[test]
    fn fragment_cycles_do_not_hang() {
        assert!(check_str("{ ...A } fragment A on Q { ...B } fragment B on Q { ...A }").is_ok());
    }
}
