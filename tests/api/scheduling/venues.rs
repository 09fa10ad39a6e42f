//! Venues and their seats.

use serde_json::{Value, json};

use super::*;

#[tokio::test]
async fn a_reserved_venue_gets_numbered_seats_labelled_in_the_language_of_each_section() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let r = create_venue(&app, &admin, theatre_input("平湖大剧院")).await;
    let venue = &r.data()["createVenue"];
    assert_eq!(venue["capacity"], 25);
    assert_eq!(venue["seating"], "RESERVED");
    assert_eq!(venue["center"]["code"], "pinghu");
    let seats = venue["seats"].as_array().expect("seats");
    assert_eq!(seats.len(), 25);
    let seat = |section: &str, row: &str, number: i64| {
        seats
            .iter()
            .find(|s| s["section"] == section && s["row"] == row && s["number"] == number)
            .unwrap_or_else(|| panic!("no seat {section} {row} {number}"))
    };
    assert_eq!(seat("Stalls", "A", 1)["label"], "Stalls row A seat 1");
    assert_eq!(seat("Stalls", "B", 12)["label"], "Stalls row B seat 12");
    assert_eq!(seat("池座", "5", 1)["label"], "池座5排1座");
    assert_eq!(seat("池座", "5", 3)["label"], "池座5排3座");
    let accessible: Vec<String> = seats
        .iter()
        .filter(|s| s["accessible"] == true)
        .map(|s| s["label"].as_str().expect("label").to_owned())
        .collect();
    assert_eq!(
        accessible,
        vec!["Stalls row A seat 1", "Stalls row A seat 2"]
    );
    let per_row = |section: &str, row: &str| {
        seats
            .iter()
            .filter(|s| s["section"] == section && s["row"] == row)
            .count()
    };
    assert_eq!(
        (
            per_row("Stalls", "A"),
            per_row("Stalls", "B"),
            per_row("池座", "5")
        ),
        (10, 12, 3)
    );
    // The venue reads back the same, to anyone.
    let id = venue["id"].as_str().expect("id");
    let r = app
        .anon(
            "query($id: ID!) { venue(id: $id) { capacity seats { label } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(r.data()["venue"]["capacity"], 25);
    assert_eq!(
        r.data()["venue"]["seats"][0]["label"],
        "Stalls row A seat 1"
    );
    assert_eq!(
        r.data()["venue"]["seats"].as_array().expect("seats").len(),
        25
    );
}

#[tokio::test]
async fn a_general_admission_venue_has_the_capacity_it_was_given_and_no_seats() {
    let app = spawn().await;
    let admin = app.admin("jinshan").await;
    let r = create_venue(&app, &admin, hall_input("金山区文化馆多功能厅")).await;
    let venue = &r.data()["createVenue"];
    assert_eq!(venue["capacity"], 200);
    assert_eq!(venue["seating"], "GENERAL_ADMISSION");
    assert_eq!(venue["seats"], json!([]));
}

#[tokio::test]
async fn invalid_venue_inputs_are_bad_user_input_naming_the_field() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let hall = hall_input("Hall");
    let theatre = theatre_input("Theatre");
    let row = |seats: i64, accessible: Value| {
        with(
            theatre.clone(),
            "sections",
            json!([{ "name": "Stalls", "rows": [
                { "label": "A", "seats": seats, "accessibleSeats": accessible }
            ] }]),
        )
    };
    let cases = [
        (with(hall.clone(), "capacity", json!(0)), "capacity"),
        (with(hall.clone(), "capacity", json!(100_001)), "capacity"),
        (with(hall.clone(), "capacity", json!(-5)), "capacity"),
        (with(hall.clone(), "capacity", Value::Null), "capacity"),
        (with(theatre.clone(), "sections", json!([])), "sections"),
        (with(theatre.clone(), "sections", Value::Null), "sections"),
        (row(0, json!([])), "seats"),
        (row(10, json!([0])), "accessibleSeats"),
        (row(10, json!([11])), "accessibleSeats"),
        (row(10, json!([-1])), "accessibleSeats"),
        (with(hall.clone(), "name", json!("")), "name"),
        (with(hall.clone(), "name", json!("   ")), "name"),
        (with(theatre.clone(), "name", json!("")), "name"),
    ];
    for (input, field) in cases {
        let r = create_venue(&app, &admin, input.clone()).await;
        assert_bad_input(&r, field);
    }
    let world = app.world().await;
    let r = app
        .anon(
            "query($c: ID) { venues(centerId: $c) { totalCount } }",
            json!({ "c": world.pinghu }),
        )
        .await;
    assert_eq!(
        r.data()["venues"]["totalCount"],
        0,
        "no invalid venue may be created"
    );
    // The boundaries themselves are valid.
    for (name, capacity) in [("One", 1), ("Stadium", 100_000)] {
        let r = create_venue(
            &app,
            &admin,
            with(hall_input(name), "capacity", json!(capacity)),
        )
        .await;
        assert_eq!(r.data()["createVenue"]["capacity"], capacity);
    }
}
