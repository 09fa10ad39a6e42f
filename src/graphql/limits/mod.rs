//! The cost of a document, decided before anything else looks at it.
//!
//! async-graphql's own depth, recursion and complexity visitors expand every fragment at
//! every spread, so a 1.5 KB document whose fragments each spread the next one twice makes
//! them visit 2^40 fields without ever yielding. This walk runs first, right after parsing,
//! and is linear in the document's size:
//!
//! - fragments are put in dependency order first (an explicit stack, no recursion that input
//!   can drive); a fragment that spreads itself, directly or not, is
//!   `GRAPHQL_VALIDATION_FAILED`;
//! - each fragment's figures (fields, depth, nesting, cost) are computed once, then reused at
//!   every spread, so "fields counted once per use" costs one addition per use;
//! - every list field costs its length times its children: a connection its page size
//!   (`first`/`last`, default 20), any other list the most rows it can return
//!   ([`LIST_COSTS`]; a test fails when a list field of the schema has no entry there);
//! - introspection (`__schema`, `__type`) is costed against the schema itself, exactly: its
//!   lists are as long as the schema makes them, so GraphiQL's introspection query costs what
//!   it returns, while `fields { type { ofType { fields … } } }` nesting is costed in full.
//!
//! Only documents that pass are handed to async-graphql, whose visitors then walk at most
//! [`MAX_FIELDS`] fields, each at most [`MAX_NESTING`] levels deep.

use std::collections::HashMap;

use async_graphql::Variables;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql_value::Name;

use crate::domain::{catalog, scheduling, venues};

/// Depth limit of API.md: fields nested in fields.
pub const MAX_DEPTH: usize = 15;
/// The most a document may cost: roughly the objects it can make the server build. One full
/// seat map of the largest reserved hall (20,000 seats × a seat's 8 fields) fits; a page of
/// seat maps does not.
pub const MAX_COMPLEXITY: u64 = 200_000;
/// Most fields (aliased or not) in one operation, each fragment counted once per use.
pub const MAX_FIELDS: u64 = 1_000;
/// Most root fields in one operation.
pub const MAX_ROOT_FIELDS: usize = 50;
/// Most nested selection sets, fragment spreads and inline fragments included (async-graphql's
/// recursion limit and the parser's).
pub const MAX_NESTING: usize = 64;
/// Largest page a connection returns.
pub const MAX_PAGE: i64 = 100;
/// Page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE: i64 = 20;
/// Most steps the introspection costing may take; real introspection queries take a few
/// thousand.
const MAX_STEPS: u64 = 2_000_000;
/// Bound on the number of cultural centers (the three today; a city's culture cloud has a
/// few dozen).
pub const MAX_CENTERS: u64 = 100;
/// Bound on directives and their arguments, for introspection.
const DIRECTIVES: u64 = 10;
const DIRECTIVE_ARGS: u64 = 3;

/// How long a list field can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListCost {
    /// At most this many items.
    Rows(u64),
    /// A connection's `edges`/`nodes`: its page size is counted on the connection field.
    Page,
}

/// Every list-valued field of the schema (connections aside: a connection costs its page size,
/// and its `edges`/`nodes` are that page): the most rows it can return, and why.
pub const LIST_COSTS: &[(&str, &str, ListCost)] = &[
    ("Query", "centers", ListCost::Rows(MAX_CENTERS)),
    // The caller's center's allocations, at most 200 (oldest first).
    (
        "Query",
        "seasonalAllocations",
        ListCost::Rows(crate::domain::allocations::MAX_LISTED),
    ),
    (
        "Center",
        "venues",
        ListCost::Rows(catalog::MAX_CENTER_VENUES),
    ),
    ("Venue", "sharedWith", ListCost::Rows(MAX_CENTERS)),
    (
        "Venue",
        "seats",
        ListCost::Rows(venues::MAX_RESERVED_SEATS as u64),
    ),
    (
        "Performance",
        "seatMap",
        ListCost::Rows(venues::MAX_RESERVED_SEATS as u64),
    ),
    (
        "SeasonalAllocation",
        "performances",
        ListCost::Rows(crate::domain::allocations::MAX_SESSIONS_LISTED),
    ),
    (
        "Booking",
        "tickets",
        ListCost::Rows(scheduling::MAX_PER_RESIDENT_LIMIT as u64),
    ),
    (
        "AvailabilityUpdate",
        "changedSeats",
        ListCost::Rows(venues::MAX_RESERVED_SEATS as u64),
    ),
    // One quarter of every pair the caller's center can be part of; a larger whole-year
    // answer is refused (ask per quarter), so this is the most a list holds.
    (
        "Query",
        "exchangeReport",
        ListCost::Rows(crate::domain::exchange_report::MAX_ROWS as u64),
    ),
    // The seats of one offer: a party of at most the highest per-resident limit.
    (
        "WaitlistEntry",
        "offeredSeats",
        ListCost::Rows(scheduling::MAX_PER_RESIDENT_LIMIT as u64),
    ),
    // One share per home center, at most every center.
    (
        "Performance",
        "seatShares",
        ListCost::Rows(crate::domain::shares::MAX_SHARES as u64),
    ),
    // Residents' home centers: at most every center.
    (
        "ExchangeReport",
        "byHomeCenter",
        ListCost::Rows(MAX_CENTERS),
    ),
];

mod schema;
mod walk;

pub use schema::SchemaModel;
use walk::Walk;

/// Why a document is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Fragments spread each other in a cycle (`GRAPHQL_VALIDATION_FAILED`).
    FragmentCycle(String),
    /// Over a limit (`QUERY_TOO_COMPLEX`).
    TooComplex(String),
    /// A page argument out of range (`BAD_USER_INPUT`, naming the argument).
    BadPage(&'static str),
}

/// What one selection set (or fragment) adds up to, each fragment counted once per use.
#[derive(Clone, Copy, Default)]
struct Shape {
    fields: u64,
    depth: usize,
    nesting: usize,
}

/// Checks a parsed document against every limit, in one linear pass, and answers its cost
/// (that of its costliest operation).
pub fn check(
    model: &SchemaModel,
    doc: &ExecutableDocument,
    variables: &Variables,
) -> Result<u64, Refusal> {
    let order = fragment_order(doc)?;
    // Shapes: fragments first, in dependency order, so a spread is one lookup.
    let mut shapes: HashMap<&Name, Shape> = HashMap::new();
    for name in &order {
        let fragment = &doc.fragments[*name];
        let shape = shape_of(&fragment.node.selection_set.node, &shapes, 0)?;
        shapes.insert(*name, shape);
    }
    let mut walk = Walk {
        model,
        doc,
        variables,
        defaults: HashMap::new(),
        fragment_costs: HashMap::new(),
        bad_page: None,
        intro_memo: HashMap::new(),
        steps: 0,
    };
    for (_, operation) in doc.operations.iter() {
        let root = &operation.node.selection_set.node;
        if root.items.len() > MAX_ROOT_FIELDS {
            return Err(Refusal::TooComplex(format!(
                "an operation may have at most {MAX_ROOT_FIELDS} root fields"
            )));
        }
        let shape = shape_of(root, &shapes, 0)?;
        if shape.fields > MAX_FIELDS {
            return Err(Refusal::TooComplex(format!(
                "an operation may select at most {MAX_FIELDS} fields"
            )));
        }
        if shape.depth > MAX_DEPTH {
            return Err(Refusal::TooComplex(format!(
                "the query is too deep: at most {MAX_DEPTH} levels of fields"
            )));
        }
        for variable in &operation.node.variable_definitions {
            if let Some(default) = &variable.node.default_value {
                walk.defaults
                    .insert(variable.node.name.node.clone(), default.node.clone());
            }
        }
    }
    // Fragments that no operation uses are still shaped above (validation refuses them);
    // only what is bounded reaches the costing.
    for name in &order {
        let fragment = &doc.fragments[*name];
        let on = fragment.node.type_condition.node.on.node.as_str();
        let cost = walk.cost(&fragment.node.selection_set.node, on, 0)?;
        walk.fragment_costs.insert(*name, cost);
    }
    let mut worst = 0;
    for (_, operation) in doc.operations.iter() {
        let root_type = match operation.node.ty {
            async_graphql::parser::types::OperationType::Query => &model.roots[0],
            async_graphql::parser::types::OperationType::Mutation => &model.roots[1],
            async_graphql::parser::types::OperationType::Subscription => &model.roots[2],
        };
        let cost = walk.cost(&operation.node.selection_set.node, root_type, 0)?;
        worst = worst.max(cost);
    }
    if let Some(argument) = walk.bad_page {
        return Err(Refusal::BadPage(argument));
    }
    if worst > MAX_COMPLEXITY || walk.steps > MAX_STEPS {
        return Err(Refusal::TooComplex(format!(
            "the query is too complex: it costs {worst}, at most {MAX_COMPLEXITY} is allowed"
        )));
    }
    Ok(worst)
}

/// The fragments in dependency order (a fragment after every fragment it spreads), found with
/// an explicit stack; a cycle is refused.
fn fragment_order(doc: &ExecutableDocument) -> Result<Vec<&Name>, Refusal> {
    let mut spreads: HashMap<&Name, Vec<&Name>> = HashMap::new();
    for (name, fragment) in &doc.fragments {
        let mut found = Vec::new();
        collect_spreads(&fragment.node.selection_set.node, &mut found, 0)?;
        spreads.insert(name, found);
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    let mut marks: HashMap<&Name, Mark> = HashMap::new();
    let mut order = Vec::with_capacity(doc.fragments.len());
    let mut names: Vec<&Name> = doc.fragments.keys().collect();
    names.sort();
    for start in names {
        if marks.contains_key(start) {
            continue;
        }
        // (fragment, index of the next spread to visit)
        let mut stack: Vec<(&Name, usize)> = vec![(start, 0)];
        marks.insert(start, Mark::Open);
        while let Some((name, next)) = stack.pop() {
            let children = &spreads[name];
            if let Some(&child) = children.get(next) {
                stack.push((name, next + 1));
                if !doc.fragments.contains_key(child) {
                    continue; // an unknown fragment: validation names it
                }
                match marks.get(child) {
                    Some(Mark::Open) => {
                        return Err(Refusal::FragmentCycle(format!(
                            "Cannot spread fragment \"{child}\" within itself"
                        )));
                    }
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(child, Mark::Open);
                        stack.push((child, 0));
                    }
                }
            } else {
                marks.insert(name, Mark::Done);
                order.push(name);
            }
        }
    }
    Ok(order)
}

fn too_deep() -> Refusal {
    Refusal::TooComplex(format!(
        "selections may be nested at most {MAX_NESTING} levels, fragments included"
    ))
}

fn collect_spreads<'a>(
    set: &'a SelectionSet,
    out: &mut Vec<&'a Name>,
    level: usize,
) -> Result<(), Refusal> {
    if level > MAX_NESTING {
        return Err(too_deep());
    }
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                collect_spreads(&field.node.selection_set.node, out, level + 1)?;
            }
            Selection::InlineFragment(inline) => {
                collect_spreads(&inline.node.selection_set.node, out, level + 1)?;
            }
            Selection::FragmentSpread(spread) => out.push(&spread.node.fragment_name.node),
        }
    }
    Ok(())
}

/// Fields, depth and nesting of a selection set, spreads looked up in `shapes`.
fn shape_of(
    set: &SelectionSet,
    shapes: &HashMap<&Name, Shape>,
    level: usize,
) -> Result<Shape, Refusal> {
    if level > MAX_NESTING {
        return Err(too_deep());
    }
    let mut shape = Shape::default();
    for item in &set.items {
        let (inner, field) = match &item.node {
            Selection::Field(field) => {
                let inner = &field.node.selection_set.node;
                let inner = if inner.items.is_empty() {
                    Shape::default()
                } else {
                    shape_of(inner, shapes, level + 1)?
                };
                (inner, true)
            }
            Selection::InlineFragment(inline) => (
                shape_of(&inline.node.selection_set.node, shapes, level + 1)?,
                false,
            ),
            Selection::FragmentSpread(spread) => (
                shapes
                    .get(&spread.node.fragment_name.node)
                    .copied()
                    .unwrap_or_default(),
                false,
            ),
        };
        shape.fields = shape
            .fields
            .saturating_add(inner.fields)
            .saturating_add(u64::from(field));
        shape.depth = shape.depth.max(inner.depth + usize::from(field));
        let nested = if field && inner.fields == 0 {
            0
        } else {
            inner.nesting + 1
        };
        shape.nesting = shape.nesting.max(nested);
        if shape.nesting > MAX_NESTING {
            return Err(too_deep());
        }
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> SchemaModel {
        SchemaModel::new(&crate::graphql::sdl())
    }

    fn check_str(model: &SchemaModel, query: &str) -> Result<u64, Refusal> {
        let doc = async_graphql::parser::parse_query(query).expect("parses");
        check(model, &doc, &Variables::default())
    }

    #[test]
    fn the_doubling_fragment_chain_is_refused_without_expanding_it() {
        let model = model();
        let mut query = String::from("query { ...F0 }");
        for i in 0..40 {
            query.push_str(&format!(
                " fragment F{i} on Query {{ ...F{n} ...F{n} }}",
                n = i + 1
            ));
        }
        query.push_str(" fragment F40 on Query { __typename }");
        assert!(matches!(
            check_str(&model, &query),
            Err(Refusal::TooComplex(_))
        ));
    }

    #[test]
    fn a_fragment_cycle_is_found() {
        let model = model();
        let query = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        assert!(matches!(
            check_str(&model, query),
            Err(Refusal::FragmentCycle(_))
        ));
    }

    /// graphql-js's `getIntrospectionQuery()`, as GraphiQL sends it.
    pub const INTROSPECTION_QUERY: &str = r#"
    query IntrospectionQuery {
      __schema {
        queryType { name } mutationType { name } subscriptionType { name }
        types { ...FullType }
        directives { name description locations args { ...InputValue } }
      }
    }
    fragment FullType on __Type {
      kind name description
      fields(includeDeprecated: true) {
        name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
      }
      inputFields { ...InputValue }
      interfaces { ...TypeRef }
      enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
      possibleTypes { ...TypeRef }
    }
    fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
    fragment TypeRef on __Type {
      kind name
      ofType { kind name ofType { kind name ofType { kind name ofType { kind name
        ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
    }"#;

    #[test]
    fn graphiql_introspection_costs_what_it_returns() {
        let model = model();
        let cost = check_str(&model, INTROSPECTION_QUERY).expect("allowed");
        assert!(cost > 1_000 && cost < MAX_COMPLEXITY / 4, "{cost}");
    }

    #[test]
    fn nested_introspection_is_costed_in_full() {
        let model = model();
        let mut query = String::from("{ __schema { types { ");
        for _ in 0..4 {
            query.push_str("fields { type { ofType { ofType { ");
        }
        query.push_str("name");
        for _ in 0..4 {
            query.push_str(" } } } }");
        }
        query.push_str(" } } }");
        assert!(matches!(
            check_str(&model, &query),
            Err(Refusal::TooComplex(_))
        ));
    }

    #[test]
    fn a_page_of_seat_maps_is_too_complex_but_one_seat_map_is_not() {
        let model = model();
        let one = "{ performance(id: \"x\") { seatMap { seat { id section row number label accessible } state } } }";
        assert!(check_str(&model, one).is_ok());
        let page =
            "{ centers { performances(first: 100) { edges { node { seatMap { state } } } } } }";
        assert!(matches!(
            check_str(&model, page),
            Err(Refusal::TooComplex(_))
        ));
    }
}
