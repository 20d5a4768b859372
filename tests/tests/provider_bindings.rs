//! Issue 24, templates bound to providers, through the gateway as an HQ console drives it: a
//! template the chain's configured provider cannot send is refused when it is saved or when an
//! automation using it is enabled (400 naming the field), never when the first guest is due —
//! here for WeChat Official Account template messages (template id required, at most 5 data
//! keys named like `thing1`, known variables only), and the chain's SMTP account configured
//! with its password never answered.

use maitre_kit::{
    auth::Role,
    on_both_backends,
    testing::{Backend, token},
};
use maitre_tests::{System, rest::Rest};
use serde_json::{Value, json};

const CHAIN: &str = "chain-bindings";
/// The provider-secrets key of this test's notification (base64 of 32 bytes).
const SECRET_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const APP_SECRET: &str = "wechat-app-secret-of-the-chain";
const MAIL_PASSWORD: &str = "mail-password-of-the-chain";

fn wechat_template(provider: Option<Value>) -> Value {
    let mut template = json!({"template": {"name": "生日祝福", "channel": "MESSAGE_CHANNEL_WECHAT",
        "locale": "zh-CN", "body": "{{customer.salutation}}，生日快乐",
        "purpose": "MESSAGE_PURPOSE_SERVICE"}});
    if let Some(provider) = provider {
        template["template"]["provider"] = provider;
    }
    template
}

fn keys(count: usize, variable: &str) -> Value {
    Value::Array(
        (1..=count)
            .map(|i| json!({"name": format!("thing{i}"), "variable": variable}))
            .collect(),
    )
}

fn refused_naming(reply: &maitre_tests::rest::Reply, field: &str) {
    assert_eq!(reply.status, 400, "{:?}", reply.body);
    assert!(
        reply.body.to_string().contains(field),
        "names {field}: {:?}",
        reply.body
    );
}

async fn unsendable_templates_are_refused_when_saved_or_enabled(backend: Backend) {
    let system = System::start_with_notification_settings(
        backend,
        &[("MAITRE_SECRET_KEY", SECRET_KEY.to_owned())],
    )
    .await;
    let admin = Rest::new(&system.gateway.url, &token(CHAIN, Role::HqAdmin, "hq", &[]));

    // Before the chain configures WeChat, any template is stored (the process-wide provider
    // sends anything), and a disabled automation uses it.
    let template = admin
        .post("/v1/templates", wechat_template(None))
        .await
        .ok()["template"]["templateId"]
        .as_str()
        .expect("template id")
        .to_owned();
    let automation = admin
        .post(
            "/v1/automations",
            json!({"automation": {"name": "生日祝福", "enabled": false,
                   "trigger": {"kind": "TRIGGER_KIND_OWNER_CHANGED"},
                   "actions": [{"kind": "ACTION_KIND_MESSAGE_CUSTOMER", "templateId": template}]},
                   "requestId": "bindings-greeting"}),
        )
        .await
        .ok()["automation"]["automationId"]
        .as_str()
        .expect("automation id")
        .to_owned();

    // The chain's WeChat is its Official Account; the secret is never answered.
    let set = admin
        .put(
            "/v1/providers/wechat",
            json!({"kind": "wechat_official_account",
                   "settings": {"appid": "wx-harbour", "url": "https://harbour.example/coupon"},
                   "secrets": {"app_secret": APP_SECRET}}),
        )
        .await
        .ok();
    assert!(!set.to_string().contains(APP_SECRET), "{set}");
    assert_eq!(set["account"]["secretsSet"], json!(["app_secret"]), "{set}");

    // Enabling the automation is refused: its template names no WeChat template.
    let enable = format!("/v1/automations/{automation}:setEnabled");
    let refused = admin.post(&enable, json!({"enabled": true})).await;
    refused_naming(&refused, "automation.actions[0].template_id");
    refused_naming(&refused, "template.provider.provider_template_id");

    // Saving a WeChat template is refused, naming the field: no template id; six data keys
    // (a WeChat template has at most five); a key that is not one; an unknown variable.
    refused_naming(
        &admin.post("/v1/templates", wechat_template(None)).await,
        "template.provider.provider_template_id",
    );
    refused_naming(
        &admin
            .post(
                "/v1/templates",
                wechat_template(Some(json!({"providerTemplateId": "TPL-BIRTHDAY",
                    "parameters": keys(6, "customer.salutation")}))),
            )
            .await,
        "template.provider.parameters",
    );
    refused_naming(
        &admin
            .post(
                "/v1/templates",
                wechat_template(Some(json!({"providerTemplateId": "TPL-BIRTHDAY",
                    "parameters": [{"name": "称呼", "variable": "customer.salutation"}]}))),
            )
            .await,
        "template.provider.parameters[0].name",
    );
    refused_naming(
        &admin
            .post(
                "/v1/templates",
                wechat_template(Some(json!({"providerTemplateId": "TPL-BIRTHDAY",
                    "parameters": keys(1, "customer.secret")}))),
            )
            .await,
        "template.provider.parameters[0].variable",
    );

    // Bound to the approved template, the stored template is sendable and the automation is
    // enabled.
    let mut bound = wechat_template(Some(json!({"providerTemplateId": "TPL-BIRTHDAY",
        "parameters": keys(1, "customer.salutation")})));
    bound["template"]["templateId"] = json!(template);
    bound["updateMask"] = json!("provider");
    admin
        .patch(&format!("/v1/templates/{template}"), bound)
        .await
        .ok();
    let enabled = admin.post(&enable, json!({"enabled": true})).await.ok();
    assert_eq!(enabled["automation"]["enabled"], true, "{enabled}");

    // The chain's e-mail goes through its own SMTP account; the password is never answered.
    // (`tls: none` is for local servers; production refuses it when saved.)
    let smtp = admin
        .put(
            "/v1/providers/email",
            json!({"kind": "smtp",
                   "settings": {"host": "smtp.harbour.example", "port": "587",
                                "username": "crm@harbour.example",
                                "from": "海港酒家 <crm@harbour.example>"},
                   "secrets": {"password": MAIL_PASSWORD}}),
        )
        .await
        .ok();
    assert!(!smtp.to_string().contains(MAIL_PASSWORD), "{smtp}");
    assert_eq!(smtp["account"]["secretsSet"], json!(["password"]), "{smtp}");
    refused_naming(
        &admin
            .put(
                "/v1/providers/email",
                json!({"kind": "smtp",
                       "settings": {"host": "smtp.harbour.example", "port": "587",
                                    "username": "crm@harbour.example", "from": "crm",
                                    "tls": "starttls"}}),
            )
            .await,
        "settings.from",
    );
}

on_both_backends!(unsendable_templates_are_refused_when_saved_or_enabled);
