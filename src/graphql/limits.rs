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
use async_graphql::parser::types::{
    BaseType, ExecutableDocument, Selection, SelectionSet, ServiceDocument, Type, TypeKind,
    TypeSystemDefinition,
};
use async_graphql_value::{ConstValue, Name, Value};

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

/// The introspection types, which the printed schema leaves out.
const INTROSPECTION_SDL: &str = r#"
scalar String
scalar Int
scalar Float
scalar Boolean
scalar ID
type __Schema { description: String types: [__Type!]! queryType: __Type! mutationType: __Type
  subscriptionType: __Type directives: [__Directive!]! }
type __Type { kind: __TypeKind! name: String description: String specifiedByURL: String
  fields(includeDeprecated: Boolean): [__Field!] interfaces: [__Type!] possibleTypes: [__Type!]
  enumValues(includeDeprecated: Boolean): [__EnumValue!]
  inputFields(includeDeprecated: Boolean): [__InputValue!] ofType: __Type isOneOf: Boolean }
type __Field { name: String! description: String args(includeDeprecated: Boolean): [__InputValue!]!
  type: __Type! isDeprecated: Boolean! deprecationReason: String }
type __InputValue { name: String! description: String type: __Type! defaultValue: String
  isDeprecated: Boolean deprecationReason: String }
type __EnumValue { name: String! description: String isDeprecated: Boolean! deprecationReason: String }
type __Directive { name: String! description: String locations: [__DirectiveLocation!]!
  args(includeDeprecated: Boolean): [__InputValue!]! isRepeatable: Boolean! }
enum __TypeKind { SCALAR OBJECT INTERFACE UNION ENUM INPUT_OBJECT LIST NON_NULL }
enum __DirectiveLocation { QUERY MUTATION SUBSCRIPTION FIELD FRAGMENT_DEFINITION FRAGMENT_SPREAD
  INLINE_FRAGMENT VARIABLE_DEFINITION SCHEMA SCALAR OBJECT FIELD_DEFINITION ARGUMENT_DEFINITION
  INTERFACE UNION ENUM ENUM_VALUE INPUT_OBJECT INPUT_FIELD_DEFINITION }
"#;

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

/// How a field's list length is counted.
#[derive(Clone, Copy, Debug)]
enum Multiplier {
    One,
    Rows(u64),
    Page,
    /// A list field missing from [`LIST_COSTS`] (a test keeps this from happening).
    Unknown,
}

struct FieldInfo {
    /// The field's type, as an index into `refs`.
    ty: usize,
    /// The named type at the bottom of its list/non-null wrappers.
    named: String,
    args: Vec<usize>,
    multiplier: Multiplier,
}

#[derive(Default)]
struct TypeInfo {
    fields: Vec<usize>,
    by_name: HashMap<String, usize>,
    input_fields: Vec<usize>,
    interfaces: Vec<String>,
    possible: Vec<String>,
    enum_values: u64,
}

enum TypeRef {
    NonNull(usize),
    List(usize),
    Named(String),
}

/// What the walk needs to know of the schema: each type's fields, their types and list
/// lengths. Built once, from the printed SDL.
pub struct SchemaModel {
    types: HashMap<String, TypeInfo>,
    type_names: Vec<String>,
    fields: Vec<FieldInfo>,
    /// An input value's type, as an index into `refs`.
    inputs: Vec<usize>,
    refs: Vec<TypeRef>,
    ref_ids: HashMap<String, usize>,
    roots: [String; 3],
}

/// The named type under a type's wrappers, and whether it is a list.
fn named_of(ty: &Type) -> (&str, bool) {
    match &ty.base {
        BaseType::Named(name) => (name.as_str(), false),
        BaseType::List(inner) => (named_of(inner).0, true),
    }
}

impl SchemaModel {
    /// Builds the model of a schema from its SDL.
    pub fn new(sdl: &str) -> Self {
        let mut model = Self {
            types: HashMap::new(),
            type_names: Vec::new(),
            fields: Vec::new(),
            inputs: Vec::new(),
            refs: Vec::new(),
            ref_ids: HashMap::new(),
            roots: [
                "Query".to_owned(),
                "Mutation".to_owned(),
                "Subscription".to_owned(),
            ],
        };
        for text in [INTROSPECTION_SDL, sdl] {
            // Both texts are the server's own; a schema that does not print parseable SDL is a
            // bug every test would catch.
            let doc =
                async_graphql::parser::parse_schema(text).expect("BUG: the schema's SDL parses");
            model.add(&doc);
        }
        let implementers: Vec<(String, String)> = model
            .types
            .iter()
            .flat_map(|(name, t)| t.interfaces.iter().map(|i| (i.clone(), name.clone())))
            .collect();
        for (interface, implementer) in implementers {
            if let Some(t) = model.types.get_mut(&interface) {
                t.possible.push(implementer);
            }
        }
        model
    }

    fn add(&mut self, doc: &ServiceDocument) {
        for definition in &doc.definitions {
            match definition {
                TypeSystemDefinition::Schema(schema) => {
                    let s = &schema.node;
                    for (slot, name) in [&s.query, &s.mutation, &s.subscription]
                        .into_iter()
                        .enumerate()
                    {
                        if let Some(name) = name {
                            self.roots[slot] = name.node.to_string();
                        }
                    }
                }
                TypeSystemDefinition::Type(def) => {
                    let name = def.node.name.node.to_string();
                    let mut info = TypeInfo::default();
                    match &def.node.kind {
                        TypeKind::Object(object) => {
                            info.interfaces = object
                                .implements
                                .iter()
                                .map(|i| i.node.to_string())
                                .collect();
                            self.add_fields(&name, &object.fields, &mut info);
                        }
                        TypeKind::Interface(interface) => {
                            self.add_fields(&name, &interface.fields, &mut info);
                        }
                        TypeKind::Union(union) => {
                            info.possible =
                                union.members.iter().map(|m| m.node.to_string()).collect();
                        }
                        TypeKind::Enum(e) => info.enum_values = e.values.len() as u64,
                        TypeKind::InputObject(input) => {
                            for field in &input.fields {
                                let ty = self.intern(&field.node.ty.node);
                                self.inputs.push(ty);
                                info.input_fields.push(self.inputs.len() - 1);
                            }
                        }
                        TypeKind::Scalar => {}
                    }
                    if self.types.insert(name.clone(), info).is_none() {
                        self.type_names.push(name);
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
    }

    fn add_fields(
        &mut self,
        owner: &str,
        fields: &[async_graphql::Positioned<async_graphql::parser::types::FieldDefinition>],
        info: &mut TypeInfo,
    ) {
        for field in fields {
            let field = &field.node;
            let name = field.name.node.to_string();
            let (named, list) = named_of(&field.ty.node);
            let multiplier = if named.ends_with("Connection") && !list {
                Multiplier::Page
            } else if !list {
                Multiplier::One
            } else {
                match list_cost(owner, &name) {
                    Some(ListCost::Rows(n)) => Multiplier::Rows(n),
                    Some(ListCost::Page) => Multiplier::One,
                    None => Multiplier::Unknown,
                }
            };
            let ty = self.intern(&field.ty.node);
            let args = field
                .arguments
                .iter()
                .map(|arg| {
                    let ty = self.intern(&arg.node.ty.node);
                    self.inputs.push(ty);
                    self.inputs.len() - 1
                })
                .collect();
            self.fields.push(FieldInfo {
                ty,
                named: named.to_owned(),
                args,
                multiplier,
            });
            info.fields.push(self.fields.len() - 1);
            info.by_name.insert(name, self.fields.len() - 1);
        }
    }

    /// Interns a type and every type under its wrappers.
    fn intern(&mut self, ty: &Type) -> usize {
        let key = ty.to_string();
        if let Some(&id) = self.ref_ids.get(&key) {
            return id;
        }
        let node = if !ty.nullable {
            TypeRef::NonNull(self.intern(&Type {
                base: ty.base.clone(),
                nullable: true,
            }))
        } else {
            match &ty.base {
                BaseType::List(inner) => TypeRef::List(self.intern(inner)),
                BaseType::Named(name) => TypeRef::Named(name.to_string()),
            }
        };
        self.refs.push(node);
        self.ref_ids.insert(key, self.refs.len() - 1);
        self.refs.len() - 1
    }

    fn named_ref(&self, name: &str) -> Option<usize> {
        self.ref_ids.get(name).copied()
    }

    fn field(&self, owner: &str, name: &str) -> Option<&FieldInfo> {
        let t = self.types.get(owner)?;
        t.by_name.get(name).map(|&i| &self.fields[i])
    }

    /// Every list-valued field of the schema's own types, and its declared cost if any
    /// (introspection types aside). For the test that keeps [`LIST_COSTS`] complete.
    pub fn list_fields(&self) -> Vec<(String, String, Option<ListCost>)> {
        let mut out = Vec::new();
        for owner in &self.type_names {
            if owner.starts_with("__") {
                continue;
            }
            let t = &self.types[owner];
            let mut names: Vec<&String> = t.by_name.keys().collect();
            names.sort();
            for name in names {
                let field = &self.fields[t.by_name[name]];
                if self.is_list(field.ty) {
                    out.push((owner.clone(), name.clone(), list_cost(owner, name)));
                }
            }
        }
        out
    }

    fn is_list(&self, ty: usize) -> bool {
        match &self.refs[ty] {
            TypeRef::NonNull(inner) => self.is_list(*inner),
            TypeRef::List(_) => true,
            TypeRef::Named(_) => false,
        }
    }
}

/// A list field's declared length; a connection's `edges` and `nodes` are its page.
fn list_cost(owner: &str, field: &str) -> Option<ListCost> {
    if owner.ends_with("Connection") && (field == "edges" || field == "nodes") {
        return Some(ListCost::Page);
    }
    LIST_COSTS
        .iter()
        .find(|(o, f, _)| *o == owner && *f == field)
        .map(|(_, _, cost)| *cost)
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

/// An introspection object, for costing `__schema`/`__type` against the schema itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Intro {
    Schema,
    Type(usize),
    Field(usize),
    Input(usize),
    EnumValue,
    Directive,
}

struct Walk<'a> {
    model: &'a SchemaModel,
    doc: &'a ExecutableDocument,
    variables: &'a Variables,
    defaults: HashMap<Name, ConstValue>,
    fragment_costs: HashMap<&'a Name, u64>,
    bad_page: Option<&'static str>,
    intro_memo: HashMap<(usize, Intro), u64>,
    steps: u64,
}

impl<'a> Walk<'a> {
    /// The cost of a selection set on a type: each field 1, plus its children times its list
    /// length.
    fn cost(&mut self, set: &'a SelectionSet, on: &str, level: usize) -> Result<u64, Refusal> {
        if level > MAX_NESTING {
            return Err(too_deep());
        }
        let model = self.model;
        let mut total: u64 = 0;
        for item in &set.items {
            let cost = match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let name = field.name.node.as_str();
                    let children = &field.selection_set.node;
                    if name == "__typename" {
                        1
                    } else if on == self.model.roots[0] && name == "__schema" {
                        1 + self.intro(children, Intro::Schema, level + 1)
                    } else if on == self.model.roots[0] && name == "__type" {
                        let target = field
                            .get_argument("name")
                            .and_then(|v| self.string_value(&v.node))
                            .and_then(|n| self.model.named_ref(&n));
                        1 + target.map_or(0, |t| self.intro(children, Intro::Type(t), level + 1))
                    } else if let Some(info) = model.field(on, name) {
                        let length = match info.multiplier {
                            Multiplier::One => 1,
                            Multiplier::Rows(n) => n,
                            Multiplier::Unknown => 1_000,
                            Multiplier::Page => self.page(field),
                        };
                        let below = if children.items.is_empty() {
                            0
                        } else {
                            self.cost(children, &info.named, level + 1)?
                        };
                        length.saturating_mul(below).saturating_add(1)
                    } else {
                        1 // not in the schema: validation refuses it
                    }
                }
                Selection::InlineFragment(inline) => {
                    let on = inline
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(on, |t| t.node.on.node.as_str());
                    self.cost(&inline.node.selection_set.node, on, level + 1)?
                }
                Selection::FragmentSpread(spread) => self
                    .fragment_costs
                    .get(&spread.node.fragment_name.node)
                    .copied()
                    .unwrap_or(0),
            };
            total = total.saturating_add(cost);
        }
        Ok(total)
    }

    fn value(&self, value: &Value) -> Option<ConstValue> {
        match value {
            Value::Variable(name) => self
                .variables
                .get(name)
                .cloned()
                .or_else(|| self.defaults.get(name).cloned()),
            other => other.clone().into_const(),
        }
    }

    fn string_value(&self, value: &Value) -> Option<String> {
        match self.value(value)? {
            ConstValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// A connection's page size; `first`/`last` outside 0..=100 is remembered as bad input
    /// and costed as a full page.
    fn page(&mut self, field: &async_graphql::parser::types::Field) -> u64 {
        let mut size = None;
        for argument in ["first", "last"] {
            let Some(value) = field.get_argument(argument) else {
                continue;
            };
            // Null or absent means the default; a string is validation's to refuse.
            if let Some(ConstValue::Number(n)) = self.value(&value.node) {
                match n.as_i64() {
                    Some(n) if (0..=MAX_PAGE).contains(&n) => {
                        size = Some(size.unwrap_or(0).max(n));
                    }
                    _ => {
                        self.bad_page.get_or_insert(argument);
                        size = Some(MAX_PAGE);
                    }
                }
            }
        }
        size.unwrap_or(DEFAULT_PAGE) as u64
    }

    /// The exact cost of an introspection selection, against the schema itself.
    fn intro(&mut self, set: &'a SelectionSet, node: Intro, level: usize) -> u64 {
        let key = (std::ptr::from_ref(set) as usize, node);
        if let Some(&cost) = self.intro_memo.get(&key) {
            return cost;
        }
        self.steps += 1;
        if level > MAX_NESTING || self.steps > MAX_STEPS {
            return MAX_COMPLEXITY + 1;
        }
        let model = self.model;
        let mut total: u64 = 0;
        for item in &set.items {
            let cost = match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    let sub = &field.node.selection_set.node;
                    let below = |walk: &mut Self, child: Intro| walk.intro(sub, child, level + 1);
                    let children: u64 = match (node, name) {
                        (_, "__typename") => 0,
                        (Intro::Schema, "types") => {
                            let mut sum: u64 = 0;
                            for t in &model.type_names {
                                if let Some(id) = model.named_ref(t) {
                                    sum = sum.saturating_add(below(self, Intro::Type(id)));
                                }
                            }
                            sum
                        }
                        (Intro::Schema, "queryType" | "mutationType" | "subscriptionType") => {
                            let root = match name {
                                "queryType" => &model.roots[0],
                                "mutationType" => &model.roots[1],
                                _ => &model.roots[2],
                            };
                            model
                                .named_ref(root)
                                .map_or(0, |id| below(self, Intro::Type(id)))
                        }
                        (Intro::Schema, "directives") => {
                            DIRECTIVES.saturating_mul(below(self, Intro::Directive))
                        }
                        (Intro::Directive, "args") => {
                            let boolean = model.named_ref("Boolean").unwrap_or(0);
                            let arg = self.intro_input_of_type(sub, boolean, level + 1);
                            DIRECTIVE_ARGS.saturating_mul(arg)
                        }
                        (Intro::Type(id), _) => match &model.refs[id] {
                            TypeRef::NonNull(inner) | TypeRef::List(inner) => {
                                if name == "ofType" {
                                    below(self, Intro::Type(*inner))
                                } else {
                                    0
                                }
                            }
                            TypeRef::Named(type_name) => {
                                let Some(t) = model.types.get(type_name) else {
                                    continue;
                                };
                                match name {
                                    "fields" => t.fields.iter().fold(0u64, |sum, &f| {
                                        sum.saturating_add(below(self, Intro::Field(f)))
                                    }),
                                    "inputFields" => t.input_fields.iter().fold(0u64, |sum, &i| {
                                        sum.saturating_add(below(self, Intro::Input(i)))
                                    }),
                                    "interfaces" | "possibleTypes" => {
                                        let list = if name == "interfaces" {
                                            &t.interfaces
                                        } else {
                                            &t.possible
                                        };
                                        list.iter().fold(0u64, |sum, n| {
                                            sum.saturating_add(
                                                model
                                                    .named_ref(n)
                                                    .map_or(0, |id| below(self, Intro::Type(id))),
                                            )
                                        })
                                    }
                                    "enumValues" => {
                                        t.enum_values.saturating_mul(below(self, Intro::EnumValue))
                                    }
                                    _ => 0,
                                }
                            }
                        },
                        (Intro::Field(f), "args") => {
                            model.fields[f].args.iter().fold(0u64, |sum, &i| {
                                sum.saturating_add(below(self, Intro::Input(i)))
                            })
                        }
                        (Intro::Field(f), "type") => below(self, Intro::Type(model.fields[f].ty)),
                        (Intro::Input(i), "type") => below(self, Intro::Type(model.inputs[i])),
                        _ => 0,
                    };
                    children.saturating_add(1)
                }
                Selection::InlineFragment(inline) => {
                    self.intro(&inline.node.selection_set.node, node, level + 1)
                }
                Selection::FragmentSpread(spread) => {
                    match self.doc.fragments.get(&spread.node.fragment_name.node) {
                        Some(fragment) => {
                            self.intro(&fragment.node.selection_set.node, node, level + 1)
                        }
                        None => 0,
                    }
                }
            };
            total = total.saturating_add(cost);
        }
        self.intro_memo.insert(key, total);
        total
    }

    /// A directive argument: an input value of a given type.
    fn intro_input_of_type(&mut self, set: &'a SelectionSet, ty: usize, level: usize) -> u64 {
        if level > MAX_NESTING {
            return MAX_COMPLEXITY + 1;
        }
        let mut total: u64 = 0;
        for item in &set.items {
            let cost = match &item.node {
                Selection::Field(field) if field.node.name.node.as_str() == "type" => {
                    1 + self.intro(&field.node.selection_set.node, Intro::Type(ty), level + 1)
                }
                Selection::Field(_) => 1,
                Selection::InlineFragment(inline) => {
                    self.intro_input_of_type(&inline.node.selection_set.node, ty, level + 1)
                }
                Selection::FragmentSpread(spread) => {
                    match self.doc.fragments.get(&spread.node.fragment_name.node) {
                        Some(fragment) => self.intro_input_of_type(
                            &fragment.node.selection_set.node,
                            ty,
                            level + 1,
                        ),
                        None => 0,
                    }
                }
            };
            total = total.saturating_add(cost);
        }
        total
    }
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
