//! The schema against API.md's names: every type, field, argument and enum value of the
//! contract exists, with a type the contract allows. A rename, a removal, a new required
//! argument or a looser output type fails here.
//!
//! `tests/contract/api-1.graphql` and `api-2.graphql` are API.md's two graphql blocks, copied
//! verbatim. The first is checked whole. The second arrives capability by capability: its
//! names join the check as they land, listed in [`LANDED`].

use std::collections::BTreeMap;

use async_graphql::parser::types::{
    BaseType, FieldDefinition, InputValueDefinition, Type, TypeKind, TypeSystemDefinition,
};
use async_graphql::parser::{Positioned, parse_schema};

/// Names of API.md's second block that the schema has: a type (every field of it), or
/// `Type.field` for one field (of a type extended there, like `Query`).
const LANDED: &[&str] = &[
    // Operations: account administration and the audit log.
    "AuditEntry",
    "PasswordReset",
    "UpdateProfileInput",
    "Query.auditLog",
    "Query.centerAccounts",
    "Mutation.updateMyProfile",
    "Mutation.changePassword",
    "Mutation.setStaffRole",
    "Mutation.deactivateAccount",
    "Mutation.issuePasswordReset",
    "Mutation.resetPassword",
    // The exchange ledger: no-shows and the exchange report.
    "TicketStatus",
    "ExchangeReport",
    "HomeCenterCount",
    "Query.exchangeReport",
    "Mutation.excuseNoShow",
    // Seat shares by home center.
    "SeatShare",
    "SeatShareInput",
    // The waiting list.
    "WaitlistStatus",
    "WaitlistEntry",
    "JoinWaitlistInput",
    "Query.myWaitlist",
    "Query.performanceWaitlist",
    "Mutation.joinWaitlist",
    "Mutation.leaveWaitlist",
    "Mutation.acceptWaitlistOffer",
    "Mutation.declineWaitlistOffer",
    "SeatState",
    // Productions and notifications.
    "Production",
    "ProductionFilter",
    "CreateProductionInput",
    "NotificationKind",
    "Notification.id",
    "Notification.kind",
    "Notification.createdAt",
    "Notification.read",
    "Notification.message",
    "Notification.performance",
    "Notification.production",
    "Notification.waitlistEntry",
    "Query.production",
    "Query.productions",
    "Query.myNotifications",
    "Mutation.createProduction",
    "Mutation.followProduction",
    "Mutation.unfollowProduction",
    "Mutation.markNotificationsRead",
    "Subscription.notificationAdded",
];

/// Fields the second block adds to first-block types in its comments ("Account gains:
/// active: Boolean!"), as SDL, for those that have landed.
const LANDED_GAINS: &str = "
    type Account { active: Boolean! noShows: Int! bookingSuspendedUntil: DateTime }
    type Ticket { qrSvg: String! }
    type Performance { production: Production! seatShares: [SeatShare!]! sharesReleaseAt: DateTime
        seatsAvailableToViewer: Int! waitlistLength: Int! viewerWaitlistEntry: WaitlistEntry }
    input SchedulePerformanceInput { productionId: ID seatShares: [SeatShareInput!]
        sharesReleaseAt: DateTime }
    input UpdatePerformanceInput { seatShares: [SeatShareInput!] sharesReleaseAt: DateTime }
";

#[derive(Default, Debug)]
struct Shape {
    kind: &'static str,
    implements: Vec<String>,
    /// field → (type, arguments)
    fields: BTreeMap<String, (Type, BTreeMap<String, Type>)>,
    values: Vec<String>,
}

fn fields_of(
    fields: &[Positioned<FieldDefinition>],
) -> BTreeMap<String, (Type, BTreeMap<String, Type>)> {
    fields
        .iter()
        .map(|f| {
            let args = f
                .node
                .arguments
                .iter()
                .map(|a| (a.node.name.node.to_string(), a.node.ty.node.clone()))
                .collect();
            (f.node.name.node.to_string(), (f.node.ty.node.clone(), args))
        })
        .collect()
}

fn inputs_of(
    fields: &[Positioned<InputValueDefinition>],
) -> BTreeMap<String, (Type, BTreeMap<String, Type>)> {
    fields
        .iter()
        .map(|f| {
            (
                f.node.name.node.to_string(),
                (f.node.ty.node.clone(), BTreeMap::new()),
            )
        })
        .collect()
}

/// Every type of an SDL text; `extend type` adds to the type it extends.
fn shapes(sdl: &str) -> BTreeMap<String, Shape> {
    let doc = parse_schema(sdl).expect("the SDL parses");
    let mut out: BTreeMap<String, Shape> = BTreeMap::new();
    for definition in doc.definitions {
        let TypeSystemDefinition::Type(t) = definition else {
            continue;
        };
        let shape = out.entry(t.node.name.node.to_string()).or_default();
        match &t.node.kind {
            TypeKind::Object(o) => {
                shape.kind = "type";
                shape
                    .implements
                    .extend(o.implements.iter().map(|i| i.node.to_string()));
                shape.fields.extend(fields_of(&o.fields));
            }
            TypeKind::Interface(i) => {
                shape.kind = "interface";
                shape.fields.extend(fields_of(&i.fields));
            }
            TypeKind::InputObject(i) => {
                shape.kind = "input";
                shape.fields.extend(inputs_of(&i.fields));
            }
            TypeKind::Enum(e) => {
                shape.kind = "enum";
                shape
                    .values
                    .extend(e.values.iter().map(|v| v.node.value.node.to_string()));
            }
            TypeKind::Scalar => shape.kind = "scalar",
            TypeKind::Union(_) => shape.kind = "union",
        }
    }
    out
}

/// An output may be stricter than the contract (non-null where it allows null), never looser.
fn output_allowed(contract: &Type, ours: &Type) -> bool {
    (contract.nullable || !ours.nullable)
        && match (&contract.base, &ours.base) {
            (BaseType::Named(a), BaseType::Named(b)) => a == b,
            (BaseType::List(a), BaseType::List(b)) => output_allowed(a, b),
            _ => false,
        }
}

/// An input may accept more than the contract (null where it requires a value), never less.
fn input_allowed(contract: &Type, ours: &Type) -> bool {
    (!contract.nullable || ours.nullable)
        && match (&contract.base, &ours.base) {
            (BaseType::Named(a), BaseType::Named(b)) => a == b,
            (BaseType::List(a), BaseType::List(b)) => input_allowed(a, b),
            _ => false,
        }
}

/// Compares one contract type with ours; `only` limits the check to some fields.
fn compare(
    name: &str,
    contract: &Shape,
    ours: Option<&Shape>,
    only: Option<&str>,
    problems: &mut Vec<String>,
) {
    let Some(ours) = ours else {
        problems.push(format!("{} {name} is missing", contract.kind));
        return;
    };
    if contract.kind != ours.kind {
        problems.push(format!(
            "{name} is a {} in the schema, a {} in the contract",
            ours.kind, contract.kind
        ));
        return;
    }
    for interface in &contract.implements {
        if !ours.implements.contains(interface) {
            problems.push(format!("{name} does not implement {interface}"));
        }
    }
    for value in &contract.values {
        if !ours.values.contains(value) {
            problems.push(format!("enum {name} lacks {value}"));
        }
    }
    for (field, (ty, args)) in &contract.fields {
        if only.is_some_and(|o| o != field) {
            continue;
        }
        let Some((our_ty, our_args)) = ours.fields.get(field) else {
            problems.push(format!("{name}.{field} is missing"));
            continue;
        };
        let allowed = if contract.kind == "input" {
            input_allowed(ty, our_ty)
        } else {
            output_allowed(ty, our_ty)
        };
        if !allowed {
            problems.push(format!("{name}.{field}: {our_ty}, the contract says {ty}"));
        }
        for (arg, arg_ty) in args {
            match our_args.get(arg) {
                None => problems.push(format!("{name}.{field}({arg}:) is missing")),
                Some(our) if !input_allowed(arg_ty, our) => {
                    problems.push(format!(
                        "{name}.{field}({arg}: {our}), the contract says {arg_ty}"
                    ));
                }
                Some(_) => {}
            }
        }
        for (arg, our) in our_args {
            if !args.contains_key(arg) && !our.nullable {
                problems.push(format!(
                    "{name}.{field} has a required argument {arg} the contract lacks"
                ));
            }
        }
    }
    if contract.kind == "input" && only.is_none() {
        for (field, (ty, _)) in &ours.fields {
            if !contract.fields.contains_key(field) && !ty.nullable {
                problems.push(format!(
                    "input {name} has a required field {field} the contract lacks"
                ));
            }
        }
    }
}

fn contract(file: &str) -> BTreeMap<String, Shape> {
    let path = format!("{}/tests/contract/{file}", env!("CARGO_MANIFEST_DIR"));
    shapes(&std::fs::read_to_string(&path).expect("contract file"))
}

#[test]
fn the_schema_has_every_name_of_the_contract_with_a_type_it_allows() {
    let ours = shapes(&zouqin::graphql::sdl());
    let mut problems = Vec::new();
    let mut first = contract("api-1.graphql");
    // "BookingConnection/BookingEdge and VenueConnection/VenueEdge have the same shape."
    let text = std::fs::read_to_string(format!(
        "{}/tests/contract/api-1.graphql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("contract file");
    // And from the second block, for the connections that have landed: "AuditEntryConnection
    // and AccountConnection have the PerformanceConnection shape".
    for other in [
        "Booking",
        "Venue",
        "AuditEntry",
        "Account",
        "Production",
        "Notification",
    ] {
        let start = text.find("type PerformanceEdge").expect("PerformanceEdge");
        let end = start
            + text[start..]
                .find("\n#")
                .expect("end of the connection types");
        let same = text[start..end].replace("Performance", other);
        first.extend(shapes(&same));
    }
    assert!(
        first.len() > 30,
        "the first block was read: {}",
        first.len()
    );
    for (name, shape) in &first {
        compare(name, shape, ours.get(name), None, &mut problems);
    }
    let second = contract("api-2.graphql");
    for landed in LANDED {
        let (name, field) = match landed.split_once('.') {
            Some((t, f)) => (t, Some(f)),
            None => (*landed, None),
        };
        let shape = second
            .get(name)
            .unwrap_or_else(|| panic!("{landed} is not in API.md's second block"));
        if let Some(field) = field {
            assert!(
                shape.fields.contains_key(field),
                "{landed} is not in API.md's second block"
            );
        }
        compare(name, shape, ours.get(name), field, &mut problems);
    }
    let gains_text = std::fs::read_to_string(format!(
        "{}/tests/contract/api-2.graphql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("contract file");
    for (name, shape) in shapes(LANDED_GAINS) {
        for (field, (ty, _)) in &shape.fields {
            assert!(
                gains_text.contains(&format!("{field}: {ty}")),
                "{name}.{field}: {ty} is not among API.md's second block's gains"
            );
            // Field by field: a gain names some fields of a type, not all of them.
            compare(&name, &shape, ours.get(&name), Some(field), &mut problems);
        }
    }
    assert!(
        problems.is_empty(),
        "the schema breaks the contract:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_comparison_catches_a_rename_a_looser_type_and_a_new_required_argument() {
    let contract = shapes("type Query { a(x: Int): String! b: [Int!] }");
    let cases = [
        ("type Query { a(x: Int): String! b: [Int!] }", 0),
        ("type Query { a(x: Int, y: Int): String! b: [Int!]! }", 0),
        ("type Query { renamed(x: Int): String! b: [Int!] }", 1),
        ("type Query { a(x: Int): String b: [Int!] }", 1),
        ("type Query { a(x: Int!): String! b: [Int!] }", 1),
        ("type Query { a(x: Int, y: Int!): String! b: [Int!] }", 1),
        ("type Query { a(z: Int): String! b: [Int] }", 2),
    ];
    for (sdl, expected) in cases {
        let ours = shapes(sdl);
        let mut problems = Vec::new();
        compare(
            "Query",
            &contract["Query"],
            ours.get("Query"),
            None,
            &mut problems,
        );
        assert_eq!(problems.len(), expected, "{sdl}: {problems:?}");
    }
}
