//! Delivery journeys of seed 002 (issue 19 "Deliver"), through the gateway as the apps drive them,
//! to the sink provider that records what a real SMS provider receives:
//! - the contact policy: a guest over the frequency cap gets nothing more (the suppression is
//!   the proof), and a message inside quiet hours waits until the window's end, which the API
//!   reports as its next attempt, and reaches the provider only after it;
//! - a tag-group campaign: the members of a rule tag each receive the campaign once, in their
//!   own words, and nobody else does (the campaign's completed counts are the proof);
//! - automated follow-up plans: the visit that gives a guest her owner makes a plan for him,
//!   labelled with the automation.
//!
//! Absence is never proved by sleeping: a campaign's counts settled at the provider's answers,
//! a message's own suppression, a deferral's due time and the arrival time at the provider.

use chrono::{DateTime, Duration, Timelike, Utc};
use maitre_kit::{auth::Role, on_both_backends, testing::Backend};
use maitre_tests::{eventually, setup, setup::Journey};
use serde_json::{Value, json};

const CHAIN: &str = "chain-delivery";
const STORE_NAME: &str = "海港酒家静安店";

/// Sends `template` to `customer` by SMS as staff would (`POST /v1/messages`), retrying while
/// notification has not yet heard of her (a retryable answer); the response.
async fn send(c: &Journey, customer: &str, template: &str, request_id: &str) -> Value {
    let body = json!({"customerId": customer, "channel": "MESSAGE_CHANNEL_SMS",
                      "templateId": template, "requestId": request_id});
    eventually(30, || async {
        let reply = c.admin.post("/v1/messages", body.clone()).await;
        (reply.status == 200).then_some(reply.body)
    })
    .await
    .unwrap_or_else(|| panic!("notification takes the message {request_id}"))
}

/// Waits (at most `seconds`) until message `message_id` of `customer` satisfies `reached`; it.
async fn message_when(
    c: &Journey,
    customer: &str,
    message_id: &str,
    seconds: u64,
    what: &str,
    reached: impl Fn(&Value) -> bool,
) -> Value {
    eventually(seconds, || async {
        c.messages(customer)
            .await
            .into_iter()
            .find(|m| m["messageId"] == message_id && reached(m))
    })
    .await
    .unwrap_or_else(|| panic!("message {message_id} of {customer} never {what}"))
}

/// Waits until message `message_id` of `customer` has status `status`; it.
async fn message_reaches(c: &Journey, customer: &str, message_id: &str, status: &str) -> Value {
    message_when(c, customer, message_id, 90, status, |m| {
        m["status"] == status
    })
    .await
}

fn message_id(sent: &Value) -> String {
    sent.pointer("/delivery/messageId")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no message id in {sent}"))
        .to_owned()
}

fn instant(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .unwrap_or_else(|| panic!("an RFC 3339 instant: {value}"))
        .with_timezone(&Utc)
}

fn has_reason(message: &Value, reason: &str) -> bool {
    message["history"]
        .as_array()
        .is_some_and(|h| h.iter().any(|s| s["reason"] == reason))
}

/// Minute of the day in Shanghai (the store's zone, UTC+8 all year) at `at`.
fn shanghai_minute(at: DateTime<Utc>) -> u32 {
    let local = at + Duration::hours(8);
    local.hour() * 60 + local.minute()
}

/// Seed 002 §3 ("避免过度营销"): with a cap of one SMS a day, a second message the same day is
/// suppressed `frequency_cap` and never reaches the provider; inside quiet hours a message is
/// held until the window's end — the API reports that end as its next attempt — and reaches
/// the provider only after it.
///
/// The quiet window is real (minutes of the store's day around now) and ends at a minute
/// boundary at least 45 s away, so the message is decided inside it however slow the machine;
/// the wait for the send is bounded by the reported due time plus a generous margin, never a
/// guess of how long the window lasts.
async fn frequency_cap_and_quiet_hours(backend: Backend) {
    let c = Journey::start(backend, CHAIN, STORE_NAME).await;
    let template = setup::sms_template(
        &c.admin,
        "到店提醒",
        "{{customer.salutation}}，{{store.name}}提醒您：今晚座位已为您保留。",
    )
    .await;
    c.admin
        .put(
            "/v1/contact-policy",
            json!({"policy": {"caps": [{"channel": "MESSAGE_CHANNEL_SMS", "maxMessages": 1, "windowHours": 24}]}}),
        )
        .await
        .ok();
    let li = c.guest("13800138201", "李娜", "female").await;
    let first = message_id(&send(&c, &li, &template, "cap-1").await);
    message_reaches(&c, &li, &first, "MESSAGE_STATUS_SENT").await;
    let second = message_id(&send(&c, &li, &template, "cap-2").await);
    let suppressed = message_reaches(&c, &li, &second, "MESSAGE_STATUS_SUPPRESSED").await;
    let reason = suppressed["history"]
        .as_array()
        .and_then(|h| h.last())
        .map(|h| h["reason"].clone())
        .unwrap_or_default();
    assert_eq!(reason, "frequency_cap", "{suppressed}");
    let received = c.sink.received_for(&li);
    assert_eq!(
        received.len(),
        1,
        "the cap holds at the provider: {received:?}"
    );
    assert_eq!(
        received[0]["body"],
        format!("李女士，{STORE_NAME}提醒您：今晚座位已为您保留。")
    );

    // Quiet hours from the minute before now to a minute boundary 45–105 s ahead.
    let zhang = c.guest("13800138202", "张伟", "male").await;
    let now = Utc::now();
    let window_end = (now + Duration::seconds(45))
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .expect("a minute")
        + Duration::minutes(1);
    let start = (shanghai_minute(now) + 1440 - 1) % 1440;
    let end = shanghai_minute(window_end);
    c.admin
        .put(
            "/v1/contact-policy",
            json!({"policy": {"quietHours": {"startMinute": start, "endMinute": end}}}),
        )
        .await
        .ok();
    let quiet = message_id(&send(&c, &zhang, &template, "quiet-1").await);
    // Held for quiet hours: queued, due at the window's end as the API reports it. The
    // deferral's reason can be read a moment before its due time is (a due time still at the
    // enqueue, before the send): wait for a due time after the send, then check which.
    let sent_at = Utc::now();
    let held = message_when(&c, &zhang, &quiet, 40, "deferred", |m| {
        m["status"] == "MESSAGE_STATUS_QUEUED"
            && has_reason(m, "quiet_hours")
            && m["nextAttemptAt"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t > sent_at)
    })
    .await;
    let due = instant(&held["nextAttemptAt"]);
    assert_eq!(due, window_end, "due at the end of quiet hours: {held}");
    // Sent once the window is over: waited for by the due time, with room for a slow machine.
    let deadline = u64::try_from((due - Utc::now()).num_seconds().max(0)).unwrap_or(0) + 120;
    let sent = message_when(&c, &zhang, &quiet, deadline, "sent", |m| {
        m["status"] == "MESSAGE_STATUS_SENT"
    })
    .await;
    let received = c.sink.received_for(&zhang);
    assert_eq!(received.len(), 1, "{received:?}");
    let arrived = instant(&received[0]["received_at"]);
    assert!(
        arrived >= due,
        "arrived {arrived} inside quiet hours ending {due}: {sent}"
    );
    assert!(
        has_reason(&sent, "quiet_hours"),
        "the history says it waited for quiet hours: {sent}"
    );
    assert_eq!(
        received[0]["body"],
        format!("张先生，{STORE_NAME}提醒您：今晚座位已为您保留。")
    );
}

/// Seed 002 §3 ("为标签中包含…的客户创建一个客户群组,推送…优惠"): a chain builds a rule tag
/// from what guests order, and a campaign to that tag group. Each member receives it once at the
/// provider, in her own words (her salutation, or the template's default when she gave no name;
/// the store's name; the campaign's coupon), and the guest outside the group receives nothing:
/// the campaign completes with every targeted message settled, and she was not targeted.
async fn a_tag_group_campaign_reaches_each_member_once(backend: Backend) {
    let c = Journey::start(backend, CHAIN, STORE_NAME).await;
    let seafood = setup::active_rule_tag(
        &c.admin,
        "seafood_lovers",
        r#"visits(365d) >= 1 and dish_share("海鲜", 365d) >= 0.5"#,
    )
    .await;
    // Ms Zhao orders desserts; Ms Li, Mr Zhang and a guest who gave no name order seafood.
    let zhao = c.guest("13800138401", "赵敏", "female").await;
    c.visit("pos-tg-zhao", "13800138401", 5, &[("杨枝甘露", "甜品")])
        .await;
    let li = c.guest("13800138402", "李娜", "female").await;
    c.visit("pos-tg-li", "13800138402", 4, &[("清蒸石斑", "海鲜")])
        .await;
    let zhang = c.guest("13800138403", "张伟", "male").await;
    c.visit(
        "pos-tg-zhang",
        "13800138403",
        3,
        &[
            ("蒜蓉扇贝", "海鲜"),
            ("白灼虾", "海鲜"),
            ("杨枝甘露", "甜品"),
        ],
    )
    .await;
    let nameless = c.guest("13800138404", "", "").await;
    c.visit("pos-tg-nameless", "13800138404", 2, &[("白灼虾", "海鲜")])
        .await;
    let members = [&li, &zhang, &nameless];
    for member in members {
        c.member_of(&seafood, member).await;
    }
    assert!(
        !c.evaluated_with_visits(&seafood, &zhao, 1).await,
        "the dessert lover is outside the seafood group"
    );

    let template = setup::template(
        &c.admin,
        "海鲜节",
        "{{customer.salutation | \"尊敬的顾客\"}}，{{store.name | \"本店\"}}海鲜节开幕，凭券码{{coupon.code}}享八折。回T退订",
        "MESSAGE_PURPOSE_MARKETING",
    )
    .await;
    let campaign = c
        .admin
        .post(
            "/v1/campaigns",
            json!({"campaign": {"name": "海鲜节", "segment": "has_tag(\"seafood_lovers\")",
                   "templateId": template, "coupon": "SEAFOOD-88"},
                   "requestId": "seafood-festival"}),
        )
        .await
        .ok()["campaign"]["campaignId"]
        .as_str()
        .expect("campaign id")
        .to_owned();
    // Completed: dispatched, and every message it enqueued settled at the provider's answer.
    let done = eventually(120, || async {
        let got = c.admin.get(&format!("/v1/campaigns/{campaign}")).await.ok();
        (got["campaign"]["state"] == "CAMPAIGN_STATE_COMPLETED").then(|| got["campaign"].clone())
    })
    .await
    .unwrap_or_else(|| panic!("campaign {campaign} completes"));
    assert_eq!(done["stats"]["targeted"], "3", "{done}");
    assert_eq!(done["stats"]["sent"], "3", "{done}");

    for (member, salutation) in [
        (&li, "李女士"),
        (&zhang, "张先生"),
        (&nameless, "尊敬的顾客"),
    ] {
        let received = c.sink.received_for(member);
        assert_eq!(received.len(), 1, "one delivery to {member}: {received:?}");
        assert_eq!(
            received[0]["body"],
            format!("{salutation}，{STORE_NAME}海鲜节开幕，凭券码SEAFOOD-88享八折。回T退订")
        );
    }
    assert!(
        c.sink.received_for(&zhao).is_empty(),
        "{:?}",
        c.sink.received()
    );
    assert!(c.messages(&zhao).await.is_empty());
    assert_eq!(c.sink.received().len(), 3, "{:?}", c.sink.received());
}

/// Seed 000 §三 回访: a guest's first visit, booked with Wang, makes Wang her owner, and an
/// automation on the owner change makes a follow-up plan for him, labelled with the automation,
/// visible to him through the API.
async fn a_visit_makes_a_follow_up_plan_for_the_owner(backend: Backend) {
    let c = Journey::start(backend, CHAIN, STORE_NAME).await;
    let automation = c
        .admin
        .post(
            "/v1/automations",
            json!({"automation": {"name": "新客回访", "enabled": true,
                   "trigger": {"kind": "TRIGGER_KIND_OWNER_CHANGED"},
                   "actions": [{"kind": "ACTION_KIND_CREATE_FOLLOW_UP", "dueInHours": 72,
                                "title": "到店后回访"}]},
                   "requestId": "owner-follow-up"}),
        )
        .await
        .ok()["automation"]["automationId"]
        .as_str()
        .expect("automation id")
        .to_owned();
    let source = format!("automation:{automation}");
    let li = c.guest("13800138301", "李娜", "female").await;
    c.visit("pos-fu-1", "13800138301", 0, &[("杨枝甘露", "甜品")])
        .await;
    let wang = c.as_staff(Role::CustomerManager, "wang");
    let plan = eventually(60, || async {
        wang.get(&format!("/v1/follow-up-plans?customerId={li}"))
            .await
            .ok()["plans"]
            .as_array()
            .and_then(|plans| {
                plans
                    .iter()
                    .find(|p| p["source"] == source.as_str())
                    .cloned()
            })
    })
    .await
    .expect("the visit makes a plan for Wang");
    assert_eq!(plan["managerId"], "wang", "{plan}");
    assert_eq!(plan["customerId"], li.as_str(), "{plan}");
    assert_eq!(plan["title"], "到店后回访", "{plan}");
}

on_both_backends!(
    frequency_cap_and_quiet_hours,
    a_tag_group_campaign_reaches_each_member_once,
    a_visit_makes_a_follow_up_plan_for_the_owner
);
