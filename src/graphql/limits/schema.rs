//! The model of the schema that the cost walk reads: each type's fields, their types and
//! their list lengths, built once from the printed SDL (and the introspection types).

use std::collections::HashMap;

use async_graphql::parser::types::{
    BaseType, ServiceDocument, Type, TypeKind, TypeSystemDefinition,
};

use super::{LIST_COSTS, ListCost};

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

/// How a field's list length is counted.
#[derive(Clone, Copy, Debug)]
pub(super) enum Multiplier {
    One,
    Rows(u64),
    Page,
    /// A list field missing from [`LIST_COSTS`] (a test keeps this from happening).
    Unknown,
}

pub(super) struct FieldInfo {
    /// The field's type, as an index into `refs`.
    pub(super) ty: usize,
    /// The named type at the bottom of its list/non-null wrappers.
    pub(super) named: String,
    pub(super) args: Vec<usize>,
    pub(super) multiplier: Multiplier,
}

#[derive(Default)]
pub(super) struct TypeInfo {
    pub(super) fields: Vec<usize>,
    pub(super) by_name: HashMap<String, usize>,
    pub(super) input_fields: Vec<usize>,
    pub(super) interfaces: Vec<String>,
    pub(super) possible: Vec<String>,
    pub(super) enum_values: u64,
}

pub(super) enum TypeRef {
    NonNull(usize),
    List(usize),
    Named(String),
}

/// What the walk needs to know of the schema: each type's fields, their types and list
/// lengths. Built once, from the printed SDL.
pub struct SchemaModel {
    pub(super) types: HashMap<String, TypeInfo>,
    pub(super) type_names: Vec<String>,
    pub(super) fields: Vec<FieldInfo>,
    /// An input value's type, as an index into `refs`.
    pub(super) inputs: Vec<usize>,
    pub(super) refs: Vec<TypeRef>,
    pub(super) ref_ids: HashMap<String, usize>,
    pub(super) roots: [String; 3],
}

/// The named type under a type's wrappers, and whether it is a list.
pub(super) fn named_of(ty: &Type) -> (&str, bool) {
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

    pub(super) fn add(&mut self, doc: &ServiceDocument) {
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

    pub(super) fn add_fields(
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
    pub(super) fn intern(&mut self, ty: &Type) -> usize {
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

    pub(super) fn named_ref(&self, name: &str) -> Option<usize> {
        self.ref_ids.get(name).copied()
    }

    pub(super) fn field(&self, owner: &str, name: &str) -> Option<&FieldInfo> {
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

    pub(super) fn is_list(&self, ty: usize) -> bool {
        match &self.refs[ty] {
            TypeRef::NonNull(inner) => self.is_list(*inner),
            TypeRef::List(_) => true,
            TypeRef::Named(_) => false,
        }
    }
}

/// A list field's declared length; a connection's `edges` and `nodes` are its page.
pub(super) fn list_cost(owner: &str, field: &str) -> Option<ListCost> {
    if owner.ends_with("Connection") && (field == "edges" || field == "nodes") {
        return Some(ListCost::Page);
    }
    LIST_COSTS
        .iter()
        .find(|(o, f, _)| *o == owner && *f == field)
        .map(|(_, _, cost)| *cost)
}
