//! Segments: counts, pages and exports from the bitmaps equal a brute-force evaluation;
//! saved segments; unknown and retired tags refused with positions.

use maitre_kit::on_both_backends;
use std::collections::{BTreeSet, HashMap};

use futures::StreamExt;
use maitre_kit::{auth::Role, error::field_of, testing::Backend};
use maitre_proto::{
    common::v1::CustomerClass,
    events::v1::{ClassChanged, CustomerUpdated, event::Payload},
    tagging::v1::{
        AddCustomerTagsRequest, BulkTagSegmentRequest, CountSegmentRequest, CreateSegmentRequest,
        DeleteSegmentRequest, ExportSegmentRequest, GetSegmentRequest, ListSegmentMembersRequest,
        ListSegmentsRequest, Segment, SegmentRef, Tag, TagLifecycle, TagSource,
        TransitionTagRequest, segment_ref::Ref,
    },
};
use tonic::Code;

use crate::common::{admin, created, req, start};

fn expression(e: &str) -> Option<SegmentRef> {
    Some(SegmentRef {
        r#ref: Some(Ref::Expression(e.into())),
    })
}

struct Customer {
    id: String,
    a: bool,
    b: bool,
    class: Option<&'static str>,
    female: bool,
}

async fn segments_match_brute_force(backend: Backend) {
    let mut h = start(backend).await;
    let chain = "chain-1";
    let a = h.active_tag(chain, "a", TagSource::Manual, "").await;
    let b = h.active_tag(chain, "b", TagSource::Manual, "").await;
    let mut customers: Vec<Customer> = (0..20)
        .map(|n| Customer {
            id: format!("s{n:02}"),
            a: n % 2 == 0,
            b: n % 3 == 0,
            class: match n {
                0..=4 => Some("A"),
                5..=7 => Some("B"),
                _ => None,
            },
            female: n % 4 == 0,
        })
        .collect();
    for c in &customers {
        h.profile.push(chain, created(&c.id));
        if let Some(class) = c.class {
            let to = if class == "A" {
                CustomerClass::A
            } else {
                CustomerClass::B
            };
            h.profile.push(
                chain,
                Payload::ClassChanged(ClassChanged {
                    customer_id: c.id.clone(),
                    from: 0,
                    to: to as i32,
                }),
            );
        }
        if c.female {
            h.profile.push(
                chain,
                Payload::CustomerUpdated(CustomerUpdated {
                    customer_id: c.id.clone(),
                    attributes: HashMap::from([("gender".to_owned(), "female".to_owned())]),
                    ..Default::default()
                }),
            );
        }
    }
    h.sync_profile(chain, "marker").await;
    customers.push(Customer {
        id: "marker".into(),
        a: false,
        b: false,
        class: None,
        female: false,
    });
    type Pick = fn(&Customer) -> bool;
    let picks: [(&Tag, Pick); 2] = [(&a, |c| c.a), (&b, |c| c.b)];
    for (tag, pick) in picks {
        let ids: Vec<String> = customers
            .iter()
            .filter(|c| pick(c))
            .map(|c| c.id.clone())
            .collect();
        h.client
            .add_customer_tags(admin(
                chain,
                AddCustomerTagsRequest {
                    tag_id: tag.tag_id.clone(),
                    customer_ids: ids,
                    note: String::new(),
                },
            ))
            .await
            .expect("tag");
    }

    let cases: Vec<(&str, Pick)> = vec![
        ("a and not b", |c| c.a && !c.b),
        ("a or class == \"A\"", |c| c.a || c.class == Some("A")),
        ("b and attr(\"gender\") == \"female\"", |c| c.b && c.female),
        ("class != \"A\"", |c| c.class.is_some_and(|k| k != "A")),
        ("not (a or b) or has_tag(\"b\") and class == \"A\"", |c| {
            !(c.a || c.b) || (c.b && c.class == Some("A"))
        }),
    ];
    for (expr, pick) in cases {
        let expected: BTreeSet<String> = customers
            .iter()
            .filter(|c| pick(c))
            .map(|c| c.id.clone())
            .collect();
        let count = h
            .client
            .count_segment(admin(
                chain,
                CountSegmentRequest {
                    segment: expression(expr),
                },
            ))
            .await
            .expect("count")
            .into_inner()
            .count;
        assert_eq!(count as usize, expected.len(), "{expr}");
        // Pages of 3 cover the segment exactly once.
        let mut paged = Vec::new();
        let mut token = String::new();
        loop {
            let page = h
                .client
                .list_segment_members(admin(
                    chain,
                    ListSegmentMembersRequest {
                        segment: expression(expr),
                        page_size: 3,
                        page_token: token.clone(),
                    },
                ))
                .await
                .expect("page")
                .into_inner();
            assert_eq!(page.total as usize, expected.len());
            paged.extend(page.customer_ids);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(paged.len(), expected.len(), "{expr}: no duplicates");
        assert_eq!(
            paged.into_iter().collect::<BTreeSet<_>>(),
            expected,
            "{expr}"
        );
        let mut export = h
            .client
            .export_segment(admin(
                chain,
                ExportSegmentRequest {
                    segment: expression(expr),
                },
            ))
            .await
            .expect("export")
            .into_inner();
        let mut exported = BTreeSet::new();
        while let Some(chunk) = export.next().await {
            exported.extend(chunk.expect("chunk").customer_ids);
        }
        assert_eq!(exported, expected, "{expr}");
    }
    let front_desk = h
        .client
        .export_segment(req(
            chain,
            Role::FrontDesk,
            ExportSegmentRequest {
                segment: expression("a"),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(front_desk.code(), Code::PermissionDenied);

    // Bulk manual tagging by a segment.
    let picked = h.active_tag(chain, "picked", TagSource::Manual, "").await;
    let bulk = |remove: bool| BulkTagSegmentRequest {
        tag_id: picked.tag_id.clone(),
        segment: expression("a and not b"),
        remove,
        note: "春节回访".into(),
    };
    let expected: Vec<String> = customers
        .iter()
        .filter(|c| c.a && !c.b)
        .map(|c| c.id.clone())
        .collect();
    let changed = h
        .client
        .bulk_tag_segment(req(chain, Role::StoreManager, bulk(false)))
        .await
        .expect("bulk")
        .into_inner()
        .changed;
    assert_eq!(changed as usize, expected.len());
    assert_eq!(h.members(chain, &picked.tag_id).await, expected);
    let denied = h
        .client
        .bulk_tag_segment(req(chain, Role::FrontDesk, bulk(true)))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let removed = h
        .client
        .bulk_tag_segment(admin(chain, bulk(true)))
        .await
        .expect("bulk remove")
        .into_inner()
        .changed;
    assert_eq!(removed as usize, expected.len());
    assert!(h.members(chain, &picked.tag_id).await.is_empty());

    // Saved segments.
    let saved = h
        .client
        .create_segment(admin(
            chain,
            CreateSegmentRequest {
                segment: Some(Segment {
                    name: "甜点爱好者".into(),
                    expression: "a and not b".into(),
                    ..Default::default()
                }),
                request_id: "seg-1".into(),
            },
        ))
        .await
        .expect("create")
        .into_inner()
        .segment
        .expect("segment");
    let by_id = Some(SegmentRef {
        r#ref: Some(Ref::SegmentId(saved.segment_id.clone())),
    });
    let count = h
        .client
        .count_segment(admin(chain, CountSegmentRequest { segment: by_id }))
        .await
        .expect("count")
        .into_inner()
        .count;
    assert_eq!(
        count as usize,
        customers.iter().filter(|c| c.a && !c.b).count()
    );
    let got = h
        .client
        .get_segment(admin(
            chain,
            GetSegmentRequest {
                segment_id: saved.segment_id.clone(),
            },
        ))
        .await
        .expect("get")
        .into_inner()
        .segment
        .expect("segment");
    assert_eq!(got.expression, "a and not b");
    let listed = h
        .client
        .list_segments(admin(chain, ListSegmentsRequest::default()))
        .await
        .expect("list")
        .into_inner()
        .segments;
    assert_eq!(listed.len(), 1);
    h.client
        .delete_segment(admin(
            chain,
            DeleteSegmentRequest {
                segment_id: saved.segment_id.clone(),
            },
        ))
        .await
        .expect("delete");
    let gone = h
        .client
        .get_segment(admin(
            chain,
            GetSegmentRequest {
                segment_id: saved.segment_id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let other_chain = h
        .client
        .get_segment(admin(
            "chain-2",
            GetSegmentRequest {
                segment_id: saved.segment_id,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(other_chain.code(), Code::NotFound);

    // Unknown and retired tags, bad syntax: INVALID_ARGUMENT with a position, nothing saved.
    let unknown = h
        .client
        .create_segment(admin(
            chain,
            CreateSegmentRequest {
                segment: Some(Segment {
                    name: "x".into(),
                    expression: "a and zz".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert_eq!(field_of(&unknown).as_deref(), Some("segment.expression"));
    assert!(unknown.message().contains("1:7"), "{}", unknown.message());
    h.client
        .transition_tag(admin(
            chain,
            TransitionTagRequest {
                tag_id: b.tag_id.clone(),
                lifecycle: TagLifecycle::Retired as i32,
            },
        ))
        .await
        .expect("retire");
    let retired = h
        .client
        .count_segment(admin(
            chain,
            CountSegmentRequest {
                segment: expression("a or b"),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(retired.code(), Code::InvalidArgument);
    assert!(
        retired.message().contains("retired") && retired.message().contains("1:6"),
        "{}",
        retired.message()
    );
    let syntax = h
        .client
        .count_segment(admin(
            chain,
            CountSegmentRequest {
                segment: expression("a and visits(30d) > 1"),
            },
        ))
        .await
        .unwrap_err();
    assert!(syntax.message().contains("1:7"), "{}", syntax.message());
    let listed = h
        .client
        .list_segments(admin(chain, ListSegmentsRequest::default()))
        .await
        .expect("list")
        .into_inner()
        .segments;
    assert!(listed.is_empty());
}

on_both_backends!(segments_match_brute_force);
