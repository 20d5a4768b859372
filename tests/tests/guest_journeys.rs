//! Guest journeys of seeds 000 and 002, through the gateway as the apps drive them, to a sink
//! provider that records what a real SMS provider receives (notification's webhook provider,
//! configured as an operator would): the birthday greeting with the dessert coupon and the
//! owner's reminder, the 60-day win-back sent once, and an opt-out by reply ("退订") seen in the
//! profile and honoured by every later marketing send. What profile knows (name, gender,
//! birthday, consent given at creation, favourite dishes, the store's name) must reach the words
//! the guest reads.

use chrono::Datelike;
use maitre_kit::{auth::Role, on_both_backends, testing::Backend};
use maitre_tests::{eventually, rest::Reply, setup, setup::Journey};
use serde_json::{Value, json};

const CHAIN: &str = "chain-journeys";
const STORE_NAME: &str = "海港酒家静安店";

async fn start(backend: Backend) -> Journey {
    Journey::start(backend, CHAIN, STORE_NAME).await
}

/// What `POST /v1/templates:preview` renders of `body` for `customer`.
async fn preview(j: &Journey, body: &str, customer: &str) -> Reply {
    j.admin
        .post(
            "/v1/templates:preview",
            json!({"body": body, "customerId": customer}),
        )
        .await
}

/// Today in Shanghai, where the store is.
fn store_today() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

fn birthday(date: chrono::NaiveDate) -> Value {
    json!({"year": 1990, "month": date.month(), "day": date.day()})
}

/// Who loves desserts, as a chain writes it: most of what the guest ordered this year is dessert.
const LIKES_DESSERT: &str = r#"visits(365d) >= 1 and dish_share("甜品", 365d) >= 0.5"#;

/// Seed 002 §3 ("当系统识别出某位客户今天生日,并综合其过往的消费偏好(如'喜欢甜点')"): what a
/// guest orders makes her a dessert lover — her visits through the POS give her profile its
/// favourite category, and tagging's rule `likes_dessert` over the same dishes tags her — and
/// on her birthday she is greeted once with the dessert coupon, by her salutation and in the
/// store's name; her manager is reminded three days ahead of another's, with her name and
/// favourite dish. A guest born the same day who orders seafood gets nothing: tagging evaluated
/// every visit of his and left him out, which is what the greeting waits on.
async fn birthday_greeting_and_owner_reminder(backend: Backend) {
    let j = start(backend).await;
    j.install("birthday_dessert_greeting", "DESSERT-2026").await;
    j.install("birthday_owner_reminder", "DESSERT-2026").await;
    let likes_dessert = setup::active_rule_tag(&j.admin, "likes_dessert", LIKES_DESSERT).await;
    // Mr Zhou's birthday is today too, but he orders seafood; he is recorded first.
    let zhou = j
        .guest_born("13800138003", "周杰", "male", birthday(store_today()))
        .await;
    // Ms Li's birthday is today; Ms Wang's is in three days. Both order desserts.
    let li = j
        .guest_born("13800138001", "李娜", "female", birthday(store_today()))
        .await;
    let in_three_days = store_today() + chrono::Duration::days(3);
    let wang_fang = j
        .guest_born("13800138002", "王芳", "female", birthday(in_three_days))
        .await;
    let seafood: &[(&str, &str)] = &[("清蒸石斑", "海鲜"), ("白灼虾", "海鲜")];
    let li_orders: &[(&str, &str)] = &[("芒果班戟", "甜品"), ("杨枝甘露", "甜品")];
    let wang_orders: &[(&str, &str)] = &[("杨枝甘露", "甜品"), ("清蒸石斑", "海鲜")];
    for (phone, dishes) in [
        ("13800138003", seafood),
        ("13800138001", li_orders),
        ("13800138002", wang_orders),
    ] {
        for i in 0..2 {
            j.visit(&format!("pos-{phone}-{i}"), phone, 3 + i, dishes)
                .await;
        }
    }
    // Her profile knows her favourite category from what she ordered (the category ordered on
    // the most visits).
    let customer = j.admin.get(&format!("/v1/customers/{li}")).await.ok();
    assert_eq!(
        customer["customer"]["aggregates"]["favouriteCategories"][0]["name"], "甜品",
        "{customer}"
    );
    // The favourite reaches notification from profile's stream: a preview for the guest
    // renders her own values, not samples.
    let preview = eventually(30, || async {
        let reply = preview(
            &j,
            "{{customer.salutation}}最爱{{customer.favourite_dish}}",
            &wang_fang,
        )
        .await;
        let body = reply.body["body"].as_str().unwrap_or_default().to_owned();
        (reply.status == 200 && body.contains("杨枝甘露")).then_some(body)
    })
    .await
    .expect("the preview renders the guest's favourite");
    assert_eq!(preview, "王女士最爱杨枝甘露");
    // Tagging derives the tag from the same dishes.
    for guest in [&li, &wang_fang] {
        j.member_of(&likes_dessert, guest).await;
    }

    // Ms Li receives the greeting once: her salutation, the store's name, the coupon.
    let received = j.sent_once(&li).await;
    let text = received["body"].as_str().expect("body");
    assert!(
        text.starts_with("李女士，海港酒家静安店祝您生日快乐！"),
        "{text}"
    );
    assert!(text.contains("券码DESSERT-2026"), "{text}");
    assert_eq!(received["channel"], "sms", "{received}");

    // Mr Zhou: tagging counted both his visits and left him out, and notification had read his
    // birthday before Ms Li's tag (it applies a tag only once its profile cursor has passed
    // profile's head as the tag arrived, and he was recorded first): a greeting for him would
    // be among his messages now.
    assert!(
        !j.evaluated_with_visits(&likes_dessert, &zhou, 2).await,
        "the seafood lover is no dessert lover"
    );
    assert!(j.messages(&zhou).await.is_empty());
    assert!(j.sink.received_for(&zhou).is_empty());

    // Wang is reminded of Ms Wang by name, with her favourite dish.
    let wang = j.as_staff(Role::CustomerManager, "wang");
    let item = eventually(30, || async {
        let inbox = wang.get("/v1/inbox").await.ok();
        inbox["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|i| i["customerId"] == wang_fang.as_str())
                .cloned()
        })
    })
    .await
    .expect("the birthday reminder reaches Wang's inbox");
    assert_eq!(item["title"], "王女士3天后生日", "{item}");
    let body = item["body"].as_str().unwrap_or_default();
    assert!(body.contains("最爱杨枝甘露"), "{item}");
    assert!(!body.contains(&wang_fang), "no raw id: {item}");

    // Wang then writes to her himself with a template naming her (no default): the send
    // needs no variables from him, and she reads her own salutation and her store's name.
    let template = setup::sms_template(
        &j.admin,
        "问候",
        "{{customer.salutation}}您好，{{store.name}}期待您再次光临",
    )
    .await;
    wang.post(
        "/v1/messages",
        json!({"customerId": wang_fang, "channel": "MESSAGE_CHANNEL_SMS",
               "templateId": template, "requestId": "wang-greets-wang-fang"}),
    )
    .await
    .ok();
    let received = j.sent_once(&wang_fang).await;
    assert_eq!(received["body"], "王女士您好，海港酒家静安店期待您再次光临");
}

/// Seed 002 §4: a guest not seen for 60 days gets the "老朋友专属" coupon, once, naming her store;
/// her manager's inbox says it is queued, not that it was sent.
async fn win_back_sent_once(backend: Backend) {
    let j = start(backend).await;
    j.install("winback_60d", "WELCOMEBACK").await;
    setup::active_rule_tag(&j.admin, "lapsed_60d", "days_since_last_visit >= 60").await;
    let guest = j
        .guest_born("13600136000", "张伟", "male", Value::Null)
        .await;
    j.visit("pos-lapsed", "13600136000", 61, &[("清蒸石斑", "海鲜")])
        .await;

    let received = j.sent_once(&guest).await;
    let text = received["body"].as_str().expect("body");
    assert!(
        text.starts_with("张先生，好久不见！海港酒家静安店为您准备了老朋友专属优惠券"),
        "{text}"
    );
    assert!(text.contains("券码WELCOMEBACK"), "{text}");

    let wang = j.as_staff(Role::CustomerManager, "wang");
    let item = eventually(30, || async {
        let inbox = wang.get("/v1/inbox").await.ok();
        inbox["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|i| i["customerId"] == guest.as_str())
                .cloned()
        })
    })
    .await
    .expect("the win-back reminder reaches Wang's inbox");
    assert_eq!(item["title"], "张先生已60天未到店", "{item}");
    assert!(
        !item["body"].as_str().unwrap_or_default().contains("已发送"),
        "the reminder does not claim a send: {item}"
    );
}

/// An unsubscribe reply ("退订") shows in the guest's profile, and the next marketing message to
/// her is suppressed: nothing reaches the provider.
async fn opt_out_by_reply(backend: Backend) {
    let j = start(backend).await;
    j.install("winback_60d", "WELCOMEBACK").await;
    setup::active_rule_tag(&j.admin, "lapsed_60d", "days_since_last_visit >= 60").await;
    let guest = j
        .guest_born("13500135000", "赵敏", "female", Value::Null)
        .await;
    // Opted in at creation: the profile says so.
    let profile = j.admin.get(&format!("/v1/customers/{guest}")).await.ok();
    assert_eq!(
        profile["customer"]["profile"]["consent"]["marketingOptIn"],
        json!(["MESSAGE_CHANNEL_SMS"]),
        "{profile}"
    );
    let reply = j
        .admin
        .post(
            "/v1/inbound-replies",
            json!({"channel": "MESSAGE_CHANNEL_SMS", "customerId": guest, "text": "退订"}),
        )
        .await
        .ok();
    assert_eq!(reply["unsubscribed"], true, "{reply}");
    // The profile shows the opt-out, from notification's stream.
    let consent = eventually(30, || async {
        let customer = j.admin.get(&format!("/v1/customers/{guest}")).await.ok();
        let consent = customer["customer"]["profile"]["consent"].clone();
        (consent["optedOut"] == json!(["MESSAGE_CHANNEL_SMS"])).then_some(consent)
    })
    .await
    .expect("the opt-out shows in the profile");
    assert!(
        consent["marketingOptIn"]
            .as_array()
            .is_none_or(|channels| channels.is_empty()),
        "{consent}"
    );
    // Notification holds the same choice.
    let preferences = j
        .admin
        .get(&format!("/v1/customers/{guest}/preferences"))
        .await
        .ok();
    assert_eq!(
        preferences["preferences"]["optedOut"],
        json!(["MESSAGE_CHANNEL_SMS"]),
        "{preferences}"
    );
    // She then lapses: the win-back is suppressed, and nothing reaches the provider.
    j.visit("pos-optout", "13500135000", 61, &[("清蒸石斑", "海鲜")])
        .await;
    let messages = j.settled_messages(&guest).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(
        messages[0]["status"], "MESSAGE_STATUS_SUPPRESSED",
        "{messages:?}"
    );
    let reason = messages[0]["history"]
        .as_array()
        .and_then(|h| h.last())
        .map(|h| h["reason"].clone())
        .unwrap_or_default();
    assert_eq!(reason, "opted_out", "{messages:?}");
    assert!(j.sink.received_for(&guest).is_empty());
}

/// What the front desk gives when creating a guest (birthday, gender, name, consent) reaches
/// notification at once, with no later edit or visit: her birthday greeting goes out today.
async fn profile_given_at_creation_reaches_notification(backend: Backend) {
    let j = start(backend).await;
    j.install("birthday_dessert_greeting", "DESSERT-2026").await;
    let likes_dessert = setup::active_manual_tag(&j.admin, "likes_dessert").await;
    let guest = j
        .guest_born("13700137000", "周慧", "female", birthday(store_today()))
        .await;
    j.add_member(&likes_dessert, &guest).await;
    let received = j.sent_once(&guest).await;
    let text = received["body"].as_str().expect("body");
    assert!(
        text.starts_with("周女士，海港酒家静安店祝您生日快乐！"),
        "{text}"
    );
}

on_both_backends!(
    profile_given_at_creation_reaches_notification,
    birthday_greeting_and_owner_reminder,
    win_back_sent_once,
    opt_out_by_reply
);
