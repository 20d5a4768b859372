//! Catalog lifecycle, rule errors with positions, cycles, roles, idempotency, TagChanged.

use maitre_kit::on_both_backends;
use std::time::Duration;

use futures::StreamExt;
use maitre_kit::{auth::Role, error::field_of, testing::Backend};
use maitre_proto::{
    events::v1::event::Payload,
    tagging::v1::{
        AddCustomerTagsRequest, CreateTagRequest, GetTagRequest, ListCustomerTagsRequest,
        ListTagHistoryRequest, ListTagsRequest, Tag, TagLifecycle, TagSource, TransitionTagRequest,
        UpdateTagRequest, ValidateRuleRequest, WatchRequest,
    },
};
use prost_types::FieldMask;
use tonic::Code;

use crate::common::{admin, req, start};

fn new_tag(name: &str, source: TagSource, rule: &str) -> CreateTagRequest {
    CreateTagRequest {
        tag: Some(Tag {
            name: name.into(),
            display_name: "高价值常客".into(),
            category: 2,
            source: source as i32,
            rule: rule.into(),
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

async fn catalog_lifecycle(backend: Backend) {
    let mut h = start(backend).await;
    let chain = "chain-1";
    // Idempotent create: the replay returns the first tag.
    let mut create = new_tag(
        "regular",
        TagSource::Rule,
        "visits(30d) > 5 and avg_ticket(30d) > 150",
    );
    create.request_id = "req-1".into();
    let tag = h
        .client
        .create_tag(admin(chain, create.clone()))
        .await
        .expect("create")
        .into_inner()
        .tag
        .expect("tag");
    let replay = h
        .client
        .create_tag(admin(chain, create))
        .await
        .expect("replay")
        .into_inner()
        .tag
        .expect("tag");
    assert_eq!(tag.tag_id, replay.tag_id);
    assert_eq!(
        (tag.lifecycle, tag.rule_version),
        (TagLifecycle::Draft as i32, 1)
    );
    // Same name again: ALREADY_EXISTS; front desk may not create.
    let dup = h
        .client
        .create_tag(admin(chain, new_tag("regular", TagSource::Manual, "")))
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);
    let denied = h
        .client
        .create_tag(req(
            chain,
            Role::FrontDesk,
            new_tag("x", TagSource::Manual, ""),
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // A bad rule: INVALID_ARGUMENT on tag.rule with line:col, nothing saved.
    let bad = h
        .client
        .create_tag(admin(
            chain,
            new_tag("bad", TagSource::Rule, "visits(30d) > and"),
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(field_of(&bad).as_deref(), Some("tag.rule"));
    assert!(bad.message().contains("1:15"), "{}", bad.message());
    let unknown = h
        .client
        .create_tag(admin(
            chain,
            new_tag(
                "bad",
                TagSource::Rule,
                "visits(30d) > 1 and\n  has_tag(\"nope\")",
            ),
        ))
        .await
        .unwrap_err();
    assert!(unknown.message().contains("2:11"), "{}", unknown.message());
    let too_long = h
        .client
        .create_tag(admin(
            chain,
            new_tag("bad", TagSource::Rule, "visits(11y) > 1"),
        ))
        .await
        .unwrap_err();
    assert_eq!(too_long.code(), Code::InvalidArgument);
    let listed = h
        .client
        .list_tags(admin(chain, ListTagsRequest::default()))
        .await
        .expect("list")
        .into_inner()
        .tags;
    assert_eq!(listed.len(), 1, "bad rules saved nothing");

    // ValidateRule answers errors in the response, never as a status.
    let validated = h
        .client
        .validate_rule(req(
            chain,
            Role::FrontDesk,
            ValidateRuleRequest {
                rule: "spend(30d) >".into(),
                tag_id: String::new(),
            },
        ))
        .await
        .expect("validate")
        .into_inner();
    assert!(!validated.valid);
    assert_eq!(
        (validated.errors[0].line, validated.errors[0].column),
        (1, 13)
    );
    let fine = h
        .client
        .validate_rule(admin(
            chain,
            ValidateRuleRequest {
                rule: "days_since_last_visit >= 60 and has_tag(\"regular\")".into(),
                tag_id: String::new(),
            },
        ))
        .await
        .expect("validate")
        .into_inner();
    assert!(fine.valid && fine.time_dependent);
    assert_eq!(fine.referenced_tags, vec!["regular".to_owned()]);

    // Cycles through has_tag are refused, with the position of the closing reference.
    let a = h
        .client
        .create_tag(admin(
            chain,
            new_tag("a", TagSource::Rule, "has_tag(\"regular\")"),
        ))
        .await
        .expect("a")
        .into_inner()
        .tag
        .expect("tag");
    let b = h
        .client
        .create_tag(admin(
            chain,
            new_tag("b", TagSource::Rule, "has_tag(\"a\")"),
        ))
        .await
        .expect("b")
        .into_inner()
        .tag
        .expect("tag");
    let cycle = h
        .client
        .update_tag(admin(
            chain,
            UpdateTagRequest {
                tag: Some(Tag {
                    tag_id: a.tag_id.clone(),
                    rule: "visits(7d) > 0 or has_tag(\"b\")".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["rule".into()],
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(cycle.code(), Code::InvalidArgument);
    assert!(
        cycle.message().contains("cycle") && cycle.message().contains("1:27"),
        "{}",
        cycle.message()
    );
    let cycle_check = h
        .client
        .validate_rule(admin(
            chain,
            ValidateRuleRequest {
                rule: "has_tag(\"b\")".into(),
                tag_id: a.tag_id.clone(),
            },
        ))
        .await
        .expect("validate")
        .into_inner();
    assert!(!cycle_check.valid && cycle_check.errors[0].message.contains("cycle"));
    assert!(b.rule_version == 1);

    // A rule change makes a new version.
    let updated = h
        .client
        .update_tag(admin(
            chain,
            UpdateTagRequest {
                tag: Some(Tag {
                    tag_id: tag.tag_id.clone(),
                    rule: "visits(30d) > 3".into(),
                    display_name: "常客".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["rule".into(), "display_name".into()],
                }),
            },
        ))
        .await
        .expect("update")
        .into_inner()
        .tag
        .expect("tag");
    assert_eq!(
        (updated.rule_version, updated.display_name.as_str()),
        (2, "常客")
    );
    let bad_mask = h
        .client
        .update_tag(admin(
            chain,
            UpdateTagRequest {
                tag: Some(Tag {
                    tag_id: tag.tag_id.clone(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["name".into()],
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_mask.code(), Code::InvalidArgument);

    // Lifecycle only forward; retiring takes a manual tag off its members, history stays.
    let manual = h
        .client
        .create_tag(admin(chain, new_tag("vip", TagSource::Manual, "")))
        .await
        .expect("vip")
        .into_inner()
        .tag
        .expect("tag");
    let transition = |lifecycle: TagLifecycle| {
        admin(
            chain,
            TransitionTagRequest {
                tag_id: manual.tag_id.clone(),
                lifecycle: lifecycle as i32,
            },
        )
    };
    h.client
        .transition_tag(transition(TagLifecycle::Active))
        .await
        .expect("activate");
    let back = h
        .client
        .transition_tag(transition(TagLifecycle::Draft))
        .await
        .unwrap_err();
    // No tag goes back to draft: the contract lists the lifecycles a transition may name,
    // and the kit's field rules refuse the others before the handler runs.
    assert_eq!(back.code(), Code::InvalidArgument);
    assert!(
        back.message().contains("TAG_LIFECYCLE_ACTIVE"),
        "{}",
        back.message()
    );
    h.sync_profile(chain, "c1").await;
    let added = h
        .client
        .add_customer_tags(admin(
            chain,
            AddCustomerTagsRequest {
                tag_id: manual.tag_id.clone(),
                customer_ids: vec!["c1".into()],
                note: "生日宴".into(),
            },
        ))
        .await
        .expect("add")
        .into_inner();
    assert_eq!(added.added, 1);
    h.client
        .transition_tag(transition(TagLifecycle::Deprecated))
        .await
        .expect("deprecate");
    let retired = h
        .client
        .transition_tag(transition(TagLifecycle::Retired))
        .await
        .expect("retire")
        .into_inner()
        .tag
        .expect("tag");
    assert_eq!(
        (retired.lifecycle, retired.member_count),
        (TagLifecycle::Retired as i32, 0)
    );
    let tags = h
        .client
        .list_customer_tags(admin(
            chain,
            ListCustomerTagsRequest {
                customer_id: "c1".into(),
            },
        ))
        .await
        .expect("tags")
        .into_inner()
        .tags;
    assert!(tags.is_empty());
    let history = h
        .client
        .list_tag_history(admin(
            chain,
            ListTagHistoryRequest {
                tag_id: manual.tag_id.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("history")
        .into_inner()
        .entries;
    let actors: Vec<(bool, &str)> = history
        .iter()
        .map(|e| (e.added, e.actor.as_str()))
        .collect();
    assert_eq!(actors, vec![(false, "retired"), (true, "manual:staff-1")]);
    let got = h
        .client
        .get_tag(admin(
            chain,
            GetTagRequest {
                tag_id: manual.tag_id.clone(),
            },
        ))
        .await
        .expect("get")
        .into_inner()
        .tag
        .expect("tag");
    assert_eq!(got.lifecycle, TagLifecycle::Retired as i32);

    // The catalog changes are on the Watch stream.
    let mut stream = h
        .client
        .watch(admin(chain, WatchRequest { from_sequence: 0 }))
        .await
        .expect("watch")
        .into_inner();
    let mut lifecycles = Vec::new();
    while let Ok(Some(Ok(event))) =
        tokio::time::timeout(Duration::from_secs(5), stream.next()).await
    {
        if let Some(Payload::TagChanged(c)) = event.payload
            && c.tag_id == manual.tag_id
        {
            lifecycles.push(c.lifecycle);
            if lifecycles.len() == 4 {
                break;
            }
        }
    }
    assert_eq!(lifecycles, vec!["draft", "active", "deprecated", "retired"]);
}

on_both_backends!(catalog_lifecycle);
