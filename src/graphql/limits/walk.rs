//! The costing walk: a selection set's cost on a type, each fragment costed once and reused
//! at every spread, introspection costed against the schema itself.

use std::collections::HashMap;

use async_graphql::Variables;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql_value::{ConstValue, Name, Value};

use super::schema::{Multiplier, TypeRef};
use super::*;

/// An introspection object, for costing `__schema`/`__type` against the schema itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Intro {
    Schema,
    Type(usize),
    Field(usize),
    Input(usize),
    EnumValue,
    Directive,
}

pub(super) struct Walk<'a> {
    pub(super) model: &'a SchemaModel,
    pub(super) doc: &'a ExecutableDocument,
    pub(super) variables: &'a Variables,
    pub(super) defaults: HashMap<Name, ConstValue>,
    pub(super) fragment_costs: HashMap<&'a Name, u64>,
    pub(super) bad_page: Option<&'static str>,
    pub(super) intro_memo: HashMap<(usize, Intro), u64>,
    pub(super) steps: u64,
}

impl<'a> Walk<'a> {
    /// The cost of a selection set on a type: each field 1, plus its children times its list
    /// length.
    pub(super) fn cost(
        &mut self,
        set: &'a SelectionSet,
        on: &str,
        level: usize,
    ) -> Result<u64, Refusal> {
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

    pub(super) fn value(&self, value: &Value) -> Option<ConstValue> {
        match value {
            Value::Variable(name) => self
                .variables
                .get(name)
                .cloned()
                .or_else(|| self.defaults.get(name).cloned()),
            other => other.clone().into_const(),
        }
    }

    pub(super) fn string_value(&self, value: &Value) -> Option<String> {
        match self.value(value)? {
            ConstValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// A connection's page size; `first`/`last` outside 0..=100 is remembered as bad input
    /// and costed as a full page.
    pub(super) fn page(&mut self, field: &async_graphql::parser::types::Field) -> u64 {
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
    pub(super) fn intro(&mut self, set: &'a SelectionSet, node: Intro, level: usize) -> u64 {
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
    pub(super) fn intro_input_of_type(
        &mut self,
        set: &'a SelectionSet,
        ty: usize,
        level: usize,
    ) -> u64 {
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
