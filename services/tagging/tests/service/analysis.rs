//! Analysis RPCs on small hand-checked chains: dish demand (preference by dish id or by
//! name), the ingredient audience, new-dish acceptance (smoothed) and CompareGroups over
//! two tags with campaign sends from the notification stream.

use maitre_kit::on_both_backends;
use std::time::Duration;

use chrono::{Days, Utc};
use maitre_kit::testing::Backend;
use maitre_proto::{
    events::v1::{
        ContactKind, ContactRecorded, DishChanged, MessageStatus, MessageStatusChanged, OrderLine,
        event::Payload,
    },
    tagging::v1::{
        AddCustomerTagsRequest, CompareGroupsRequest, CountSegmentRequest, GetDishDemandRequest,
        GetIngredientAudienceRequest, GetNewDishAcceptanceRequest, RefitModelsRequest, SegmentRef,
        TagSource, segment_ref::Ref,
    },
};

use crate::{
    common::{Harness, admin, created, start},
    predict::{prediction, push_synthetic_chain, visit_days_ago},
};

fn local_date(days_ago: u64) -> chrono::NaiveDate {
    Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
        .checked_sub_days(Days::new(days_ago))
        .expect("date")
}

fn dish(
    id: &str,
    name: &str,
    category: &str,
    ingredients: &[&str],
    launch_days_ago: Option<u64>,
) -> Payload {
    Payload::DishChanged(DishChanged {
        dish_id: id.into(),
        name: name.into(),
        category: category.into(),
        ingredients: ingredients.iter().map(|i| (*i).into()).collect(),
        launch_date: launch_days_ago
            .map(|d| local_date(d).format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
    })
}

/// A visit `days_ago` with lines `(dish_id, dish_name)`; the category comes from the menu.
fn order(customer: &str, days_ago: u64, lines: &[(&str, &str)]) -> Payload {
    let Payload::ContactRecorded(mut contact) = visit_days_ago(customer, days_ago, 10_000) else {
        unreachable!("visit_days_ago builds a contact");
    };
    contact.lines = lines
        .iter()
        .map(|(id, name)| OrderLine {
            dish_id: (*id).into(),
            dish_name: (*name).into(),
            quantity: 1,
            ..Default::default()
        })
        .collect();
    Payload::ContactRecorded(contact)
}

/// The menu and three guests:
/// - ann: 10 days ago fish (by id), fish (by name only), duck; 5 days ago tea (by name):
///   fish 2/4 = 0.5 (prefers), duck and tea 1/4;
/// - bo: 15 days ago duck, tea, tea: duck 1/3 and tea 2/3 (prefers both);
/// - cy: 30 days ago fish: 1/1 (prefers).
///
/// Fish launched 20 days ago; tea and duck have no launch date.
fn push_menu_and_guests(h: &Harness, chain: &str) {
    h.profile.push(
        chain,
        dish("d-fish", "清蒸鱼", "seafood", &["fish", "ginger"], Some(20)),
    );
    h.profile
        .push(chain, dish("d-duck", "烤鸭", "poultry", &["duck"], None));
    h.profile
        .push(chain, dish("d-tea", "茶", "drinks", &["tea"], None));
    for c in ["ann", "bo", "cy"] {
        h.profile.push(chain, created(c));
    }
    h.profile.push(
        chain,
        order("ann", 10, &[("d-fish", ""), ("", "清蒸鱼"), ("d-duck", "")]),
    );
    h.profile.push(chain, order("ann", 5, &[("", "茶")]));
    h.profile.push(
        chain,
        order("bo", 15, &[("d-duck", ""), ("d-tea", ""), ("", "茶")]),
    );
    h.profile
        .push(chain, order("cy", 30, &[("d-fish", "清蒸鱼")]));
}

async fn dish_demand_audience_and_acceptance(backend: Backend) {
    let mut h = start(backend).await;
    // chain-2: just the three guests (acceptance and audiences by hand).
    let small = "chain-2";
    push_menu_and_guests(&h, small);
    h.sync_profile(small, "marker-2").await;
    let accepted = h
        .client
        .get_new_dish_acceptance(admin(
            small,
            GetNewDishAcceptanceRequest { window_days: 30 },
        ))
        .await
        .expect("acceptance")
        .into_inner()
        .dishes;
    assert_eq!(accepted.len(), 1, "only fish has a launch date");
    let fish = &accepted[0];
    assert_eq!(fish.dish_id, "d-fish");
    assert_eq!(
        fish.launch_date.as_ref().map(|d| d.day),
        Some(chrono::Datelike::day(&local_date(20)) as i32)
    );
    // ann (days 10, 5) and bo (day 15) visited in the 30 days after the launch; cy came
    // before it. ann tried it: 1 of 2, smoothed with Beta(1, 1): (1+1)/(2+2).
    assert_eq!((fish.tried, fish.visited), (1, 2));
    assert!((fish.acceptance - 0.5).abs() < 1e-12, "{fish:?}");

    let audience = h
        .client
        .get_ingredient_audience(admin(
            small,
            GetIngredientAudienceRequest {
                ingredient: "Fish".into(),
            },
        ))
        .await
        .expect("audience")
        .into_inner();
    assert_eq!(audience.dish_ids, vec!["d-fish".to_owned()]);
    assert_eq!(audience.count, 2, "ann (1/2 of her lines) and cy (1/1)");
    let counted = h
        .client
        .count_segment(admin(
            small,
            CountSegmentRequest {
                segment: Some(SegmentRef {
                    r#ref: Some(Ref::Expression(audience.expression.clone())),
                }),
            },
        ))
        .await
        .expect("count")
        .into_inner()
        .count;
    assert_eq!(counted, 2);
    let unknown = h
        .client
        .get_ingredient_audience(admin(
            small,
            GetIngredientAudienceRequest {
                ingredient: "saffron".into(),
            },
        ))
        .await
        .expect_err("no dish uses it");
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    // chain-1: the same guests inside a fitted chain, for expected covers.
    let chain = "chain-1";
    push_synthetic_chain(&h, chain);
    push_menu_and_guests(&h, chain);
    h.sync_profile(chain, "marker-1").await;
    let job = h
        .client
        .refit_models(admin(chain, RefitModelsRequest::default()))
        .await
        .expect("refit")
        .into_inner()
        .progress
        .expect("job");
    assert_eq!(h.wait_job(chain, &job.job_id).await.state, 3);
    let mut week = std::collections::HashMap::new();
    for c in ["ann", "bo", "cy"] {
        week.insert(
            c,
            prediction(&mut h, chain, c).await.expected_visits_30d * 7.0 / 30.0,
        );
    }
    let demand = h
        .client
        .get_dish_demand(admin(
            chain,
            GetDishDemandRequest {
                horizon_days: 7,
                store_id: String::new(),
            },
        ))
        .await
        .expect("demand")
        .into_inner();
    let row = |rows: &[maitre_proto::tagging::v1::DishDemand], key: &str| {
        rows.iter()
            .find(|r| r.dish_id == key || (r.dish_id.is_empty() && r.name == key))
            .cloned()
            .unwrap_or_else(|| panic!("no row {key}: {rows:?}"))
    };
    let fish = row(&demand.dishes, "d-fish");
    assert_eq!(
        (fish.customers, fish.name.as_str(), fish.category.as_str()),
        (2, "清蒸鱼", "seafood")
    );
    assert!(
        (fish.expected_covers - (week["ann"] * 0.5 + week["cy"])).abs() < 1e-9,
        "{fish:?}"
    );
    let duck = row(&demand.dishes, "d-duck");
    assert_eq!(duck.customers, 1);
    assert!((duck.expected_covers - week["bo"] / 3.0).abs() < 1e-9);
    let tea = row(&demand.dishes, "d-tea");
    assert_eq!(tea.customers, 1, "ann's tea is 1/4 of her lines");
    assert!((tea.expected_covers - week["bo"] * 2.0 / 3.0).abs() < 1e-9);
    let seafood = row(&demand.categories, "seafood");
    assert_eq!(seafood.customers, 2);
    assert_eq!(row(&demand.categories, "poultry").customers, 1);
    assert!(demand.dishes.iter().all(|d| d.expected_covers.is_finite()));
}
on_both_backends!(dish_demand_audience_and_acceptance);

fn spend(customer: &str, days_ago: u64, amount_fen: i64) -> Payload {
    Payload::ContactRecorded(ContactRecorded {
        event_id: uuid::Uuid::new_v4().to_string(),
        customer_id: customer.into(),
        kind: ContactKind::Visit as i32,
        store_id: "store-1".into(),
        amount_fen,
        local_date: local_date(days_ago).format("%Y-%m-%d").to_string(),
        ..Default::default()
    })
}

fn campaign(
    h: &Harness,
    chain: &str,
    message: &str,
    customer: &str,
    days_ago: u64,
    status: MessageStatus,
) {
    let at = Utc::now() - chrono::Duration::days(days_ago as i64);
    h.notification.push_at(
        chain,
        Payload::MessageStatusChanged(MessageStatusChanged {
            message_id: message.into(),
            customer_id: customer.into(),
            campaign_id: "spring".into(),
            status: status as i32,
            ..Default::default()
        }),
        Some(at),
    );
}

fn tag_group(name: &str) -> SegmentRef {
    SegmentRef {
        r#ref: Some(Ref::Expression(name.into())),
    }
}

async fn compare_two_tags(backend: Backend) {
    let mut h = start(backend).await;
    let chain = "chain-3";
    let vip = h.active_tag(chain, "vip", TagSource::Manual, "").await;
    let regular = h.active_tag(chain, "regular", TagSource::Manual, "").await;
    for c in ["v1", "v2", "r1", "r2", "o1"] {
        h.profile.push(chain, created(c));
    }
    h.profile.push(chain, spend("v1", 10, 20_000));
    h.profile.push(chain, spend("v1", 3, 10_000));
    h.profile.push(chain, spend("v2", 40, 30_000));
    h.profile.push(chain, spend("r1", 5, 5_000));
    h.profile.push(chain, spend("r1", 5, 3_000));
    h.profile.push(chain, spend("o1", 100, 70_000));
    h.profile.push(chain, spend("o1", 1, 50_000));
    h.sync_profile(chain, "marker").await;
    // v1: sent 12 days ago, visited 10 days ago (within 7 days): a response.
    campaign(&h, chain, "m1", "v1", 12, MessageStatus::Sent);
    // v2: sent 20 days ago, no visit after: none. r1: responded.
    campaign(&h, chain, "m2", "v2", 20, MessageStatus::Sent);
    campaign(&h, chain, "m3", "r1", 30, MessageStatus::Sent);
    campaign(&h, chain, "m3", "r1", 29, MessageStatus::Responded);
    for (tag, members) in [(&vip, vec!["v1", "v2"]), (&regular, vec!["r1", "r2"])] {
        h.client
            .add_customer_tags(admin(
                chain,
                AddCustomerTagsRequest {
                    tag_id: tag.tag_id.clone(),
                    customer_ids: members.into_iter().map(str::to_owned).collect(),
                    note: String::new(),
                },
            ))
            .await
            .expect("tag");
    }
    let request = || {
        admin(
            chain,
            CompareGroupsRequest {
                groups: vec![tag_group("vip"), tag_group("regular")],
                window_days: 60,
            },
        )
    };
    // Wait for the notification consumer to apply the sends.
    let mut groups = Vec::new();
    for _ in 0..200 {
        groups = h
            .client
            .compare_groups(request())
            .await
            .expect("compare")
            .into_inner()
            .groups;
        if groups[1].response_rate == 1.0 && groups[0].response_rate == 0.5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Window of 60 days: v1 30,000 (2 visit days), v2 30,000, r1 8,000 (one day, two
    // orders), o1 50,000 (the visit 100 days ago is outside): chain spend 118,000.
    let (v, r) = (&groups[0], &groups[1]);
    assert_eq!(v.size, 2);
    assert!(
        (v.visits_per_month - 3.0 / 2.0 / 2.0).abs() < 1e-12,
        "{v:?}"
    );
    assert_eq!(v.average_ticket_fen, 20_000);
    assert!((v.spend_share - 60_000.0 / 118_000.0).abs() < 1e-12);
    assert_eq!(v.response_rate, 0.5);
    assert_eq!(r.size, 2);
    assert!(
        (r.visits_per_month - 1.0 / 2.0 / 2.0).abs() < 1e-12,
        "{r:?}"
    );
    assert_eq!(r.average_ticket_fen, 8_000);
    assert!((r.spend_share - 8_000.0 / 118_000.0).abs() < 1e-12);
    assert_eq!(r.response_rate, 1.0);

    let one = h
        .client
        .compare_groups(admin(
            chain,
            CompareGroupsRequest {
                groups: vec![tag_group("vip")],
                window_days: 0,
            },
        ))
        .await
        .expect_err("one group");
    assert_eq!(one.code(), tonic::Code::InvalidArgument);
    assert!(one.message().contains("groups"));
    let unknown = h
        .client
        .compare_groups(admin(
            chain,
            CompareGroupsRequest {
                groups: vec![tag_group("vip"), tag_group("nope")],
                window_days: 30,
            },
        ))
        .await
        .expect_err("unknown tag");
    assert_eq!(unknown.code(), tonic::Code::InvalidArgument);
}
on_both_backends!(compare_two_tags);
