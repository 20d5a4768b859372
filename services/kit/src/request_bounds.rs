//! Bounds every request meets before a handler runs: how many items a repeated or map field
//! and how many characters a string may hold, the window of times and dates, and the
//! currencies money may be in.
//!
//! The one table of these bounds. [`crate::request_text::RequestTextLayer`] enforces it on
//! every request of every service (INVALID_ARGUMENT naming the field, nothing changed), and
//! the gateway's OpenAPI document reads it (`maxItems`, `minimum`/`maximum`, `enum`), so the
//! contract states exactly what is enforced. A handler may refuse tighter, never looser:
//! where a service had its own limit, the table repeats it.
//!
//! Must not know any service's rules beyond these sizes and windows.

use prost_reflect::{DynamicMessage, FieldDescriptor, MapKey, ReflectMessage, Value};

/// Items a repeated or map field of a request may hold unless [`MAX_ITEMS_BY_FIELD`] says
/// otherwise: enough for any form a person fills, far below what costs a service seconds.
pub const MAX_ITEMS: usize = 100;

/// Per-field item bounds (full proto field names). Batch calls carry more; lists that a
/// service keeps per guest carry fewer (the service's own limit, repeated here).
pub const MAX_ITEMS_BY_FIELD: &[(&str, usize)] = &[
    ("maitre.profile.v1.RecordEventsBatchRequest.events", 10_000),
    ("maitre.profile.v1.ImportDishesRequest.dishes", 5_000),
    (
        "maitre.tagging.v1.AddCustomerTagsRequest.customer_ids",
        1_000,
    ),
    (
        "maitre.tagging.v1.RemoveCustomerTagsRequest.customer_ids",
        1_000,
    ),
    (
        "maitre.assignment.v1.StartBulkTransferRequest.to_manager_ids",
        1_000,
    ),
    (
        "maitre.profile.v1.UpdateBlockedIdentifiersRequest.add",
        1_000,
    ),
    (
        "maitre.profile.v1.UpdateBlockedIdentifiersRequest.remove",
        1_000,
    ),
    (
        "maitre.notification.v1.MarkInboxReadRequest.item_ids",
        1_000,
    ),
    // A guest's keys: phone, WeChat ids, platform ids, member cards.
    ("maitre.profile.v1.Customer.identity_keys", 20),
    ("maitre.profile.v1.UpsertCustomerRequest.identity_keys", 20),
    ("maitre.profile.v1.ContactEvent.identity_keys", 20),
    ("maitre.profile.v1.Profile.dietary_habits", 30),
    ("maitre.profile.v1.Profile.allergies", 30),
    ("maitre.profile.v1.Profile.anniversaries", 20),
    ("maitre.profile.v1.Profile.attributes", 50),
    ("maitre.notification.v1.Automation.actions", 10),
    ("maitre.notification.v1.Conditions.has_tags", 20),
    ("maitre.notification.v1.Conditions.lacks_tags", 20),
    ("maitre.tagging.v1.CompareGroupsRequest.groups", 20),
];

/// Characters a string field (or map key) of a request may hold: far above any name, note,
/// template or rule a service keeps (each refuses its own tighter limit, naming it), far below
/// what a 4 MiB request could otherwise put in one row.
pub const MAX_CHARS: usize = 10_000;

/// The earliest time a request may carry: 1970-01-01T00:00:00Z (Unix seconds).
pub const MIN_TIME_SECONDS: i64 = 0;
/// The first time a request may no longer carry: 2100-01-01T00:00:00Z (Unix seconds).
pub const END_TIME_SECONDS: i64 = 4_102_444_800;
/// RFC 3339 forms of the time window, for the contract.
pub const MIN_TIME: &str = "1970-01-01T00:00:00Z";
/// See [`END_TIME_SECONDS`].
pub const END_TIME: &str = "2100-01-01T00:00:00Z";

/// Years a `maitre.common.v1.Date` may name (0 is "unknown", as in a birthday without one).
pub const MIN_YEAR: i32 = 1900;
/// See [`MIN_YEAR`].
pub const MAX_YEAR: i32 = 2100;

/// The currencies money may be in (ISO 4217). A chain has one currency, CNY, and spend is
/// counted in its fen: an amount in any other currency would be counted as if it were CNY,
/// so it is refused until a chain can name another. Empty means the chain's currency.
pub const CURRENCIES: &[&str] = &["CNY"];

/// What one request field must hold beyond the sizes above. The contract states every rule
/// of [`FIELD_RULES`]; this module enforces the ones that only a hostile or broken request
/// breaks (lengths and ranges: [`Rule::MaxChars`], [`Rule::Range`]), before any handler. The
/// others are a request's meaning — which fields a call needs, the forms a service parses —
/// and stay with the handler that reads them, after it has checked the caller's rights (a
/// caller without them learns nothing from the form); the schema fuzz of the whole API
/// (`tests/tests/schema_fuzz.rs`) holds the handlers and this table to each other both ways.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// Must be given: a non-empty string or list, a message, a number other than 0, an enum
    /// value other than its `*_UNSPECIFIED`.
    Required,
    /// At most this many characters (tighter than [`MAX_CHARS`]).
    MaxChars(usize),
    /// A whole number from the first to the second, both included.
    Range(i64, i64),
    /// A number strictly between the first and the second.
    Between(f64, f64),
    /// At least this many items.
    MinItems(usize),
    /// Only these values: enum value names, or the texts a string field takes.
    OneOf(&'static [&'static str]),
    /// Text in a form the service parses, named, with a valid example.
    Format {
        /// The form (`E.164 phone`, `rule expression`…).
        name: &'static str,
        /// A value of the form that the service accepts.
        example: &'static str,
    },
    /// Text matching this regular expression (checked by the service that reads it).
    Pattern(&'static str),
    /// A rule that depends on other fields (or on what the chain has), in words.
    When(&'static str),
}

/// Per-field rules (full proto field names, or a oneof's full name for [`Rule::Required`]:
/// one of its fields must be given); see [`Rule`]. Every `page_size` of a request is
/// `0..=`[`MAX_PAGE_SIZE`] and every `page_token` a token from a previous page unless listed
/// here.
pub const FIELD_RULES: &[(&str, Rule)] = &[
    // Shared types.
    ("maitre.common.v1.Date.month", Rule::Required),
    ("maitre.common.v1.Date.day", Rule::Required),
    (
        "maitre.common.v1.Date.day",
        Rule::When("a day of that month: 29 February only with year 0 (unknown) or a leap year"),
    ),
    ("maitre.common.v1.IdentityKey.kind", Rule::Required),
    ("maitre.common.v1.IdentityKey.value", Rule::Required),
    ("maitre.common.v1.IdentityKey.value", Rule::MaxChars(128)),
    (
        "maitre.common.v1.IdentityKey.value",
        Rule::When(
            "its form follows `kind`: a phone in E.164 (+8613800138000), a platform user as \
             <platform>:<user id> (meituan:123), WeChat ids and member cards as given",
        ),
    ),
    (
        "maitre.common.v1.IdentityKey.app_id",
        Rule::When("only with IDENTITY_KIND_WECHAT_OPENID: the WeChat app of the openid"),
    ),
    // profile
    ("maitre.profile.v1.CreateStoreRequest.store", Rule::Required),
    ("maitre.profile.v1.Store.name", Rule::Required),
    (
        "maitre.profile.v1.Store.name",
        Rule::When("an update sets it only when update_mask names it"),
    ),
    ("maitre.profile.v1.Store.name", Rule::MaxChars(100)),
    (
        "maitre.profile.v1.Store.time_zone",
        Rule::Format {
            name: "iana-time-zone",
            example: "Asia/Shanghai",
        },
    ),
    (
        "maitre.profile.v1.UpdateStoreRequest.update_mask",
        Rule::Required,
    ),
    (
        "maitre.profile.v1.UpdateStoreRequest.update_mask",
        Rule::Format {
            name: "field-mask",
            example: "name",
        },
    ),
    (
        "maitre.profile.v1.UpdateCustomerRequest.update_mask",
        Rule::Format {
            name: "field-mask",
            example: "profile.notes",
        },
    ),
    (
        "maitre.profile.v1.UpsertCustomerRequest.store_id",
        Rule::When("a store of the chain"),
    ),
    (
        "maitre.profile.v1.UpsertCustomerRequest.identity_keys",
        Rule::Required,
    ),
    (
        "maitre.profile.v1.UpsertCustomerRequest.identity_keys",
        Rule::When("at least one key that identifies a guest (a masked phone alone does not)"),
    ),
    (
        "maitre.profile.v1.LookupCustomerRequest.identity_key",
        Rule::Required,
    ),
    (
        "maitre.profile.v1.MergeCustomersRequest.absorbed_ids",
        Rule::Required,
    ),
    ("maitre.profile.v1.Anniversary.date", Rule::Required),
    (
        "maitre.profile.v1.Anniversary.date",
        Rule::When("a date that exists"),
    ),
    (
        "maitre.profile.v1.Profile.birthday",
        Rule::When("a date that exists"),
    ),
    ("maitre.profile.v1.Anniversary.label", Rule::MaxChars(64)),
    ("maitre.profile.v1.Profile.name", Rule::MaxChars(64)),
    (
        "maitre.profile.v1.Profile.dietary_habits",
        Rule::MaxChars(64),
    ),
    ("maitre.profile.v1.Profile.allergies", Rule::MaxChars(64)),
    (
        "maitre.profile.v1.Profile.seat_preference",
        Rule::MaxChars(200),
    ),
    ("maitre.profile.v1.Profile.notes", Rule::MaxChars(2_000)),
    ("maitre.profile.v1.RecordEventRequest.event", Rule::Required),
    ("maitre.profile.v1.ContactEvent.channel", Rule::Required),
    ("maitre.profile.v1.ContactEvent.external_id", Rule::Required),
    (
        "maitre.profile.v1.ContactEvent.identity_keys",
        Rule::When("at least one identity key (a masked phone alone is not one), or customer_id"),
    ),
    (
        "maitre.profile.v1.ContactEvent.store_id",
        Rule::When("a store of the chain"),
    ),
    (
        "maitre.profile.v1.ContactEvent.rating",
        Rule::When("1..=5, required for a review"),
    ),
    (
        "maitre.profile.v1.ContactEvent.campaign_id",
        Rule::When("required for a campaign response"),
    ),
    ("maitre.events.v1.OrderLine.category", Rule::Required),
    ("maitre.events.v1.OrderLine.quantity", Rule::Required),
    ("maitre.profile.v1.ContactEvent.kind", Rule::Required),
    ("maitre.profile.v1.ContactEvent.occurred_at", Rule::Required),
    (
        "maitre.profile.v1.ContactEvent.party_size",
        Rule::Range(0, 500),
    ),
    (
        "maitre.profile.v1.ContactEvent.party_size",
        Rule::When("required (1..=500) for a booking"),
    ),
    ("maitre.profile.v1.UpsertDishRequest.dish", Rule::Required),
    ("maitre.profile.v1.Dish.name", Rule::Required),
    ("maitre.profile.v1.Dish.category", Rule::Required),
    (
        "maitre.profile.v1.Dish.launch_date",
        Rule::When("a date that exists"),
    ),
    (
        "maitre.profile.v1.CreateFollowUpPlanRequest.plan",
        Rule::Required,
    ),
    ("maitre.profile.v1.FollowUpPlan.customer_id", Rule::Required),
    ("maitre.profile.v1.FollowUpPlan.title", Rule::Required),
    ("maitre.profile.v1.FollowUpPlan.due_at", Rule::Required),
    (
        "maitre.profile.v1.FollowUpPlan.source",
        Rule::When("\"manual\" (or empty) or \"automation:<automation id>\""),
    ),
    (
        "maitre.profile.v1.CreateFollowUpRecordRequest.record",
        Rule::Required,
    ),
    ("maitre.profile.v1.FollowUpRecord.kind", Rule::Required),
    ("maitre.profile.v1.FollowUpRecord.content", Rule::Required),
    (
        "maitre.profile.v1.FollowUpRecord.content",
        Rule::MaxChars(2_000),
    ),
    (
        "maitre.profile.v1.SummarizeFollowUpsRequest.period_start",
        Rule::Required,
    ),
    (
        "maitre.profile.v1.SummarizeFollowUpsRequest.period_end",
        Rule::Required,
    ),
    (
        "maitre.profile.v1.SummarizeFollowUpsRequest.period_end",
        Rule::When("after period_start"),
    ),
    (
        "maitre.profile.v1.UpdateClassificationPolicyRequest.policy",
        Rule::Required,
    ),
    (
        "maitre.profile.v1.ClassificationPolicy.classes",
        Rule::Required,
    ),
    (
        "maitre.profile.v1.ClassificationPolicy.classes",
        Rule::When("one rule for each of A, B and C"),
    ),
    (
        "maitre.profile.v1.ClassificationPolicy.thresholds",
        Rule::When("required with the thresholds method: four ascending cut-offs per measure"),
    ),
    ("maitre.profile.v1.ClassRule.class", Rule::Required),
    (
        "maitre.profile.v1.ClassRule.class",
        Rule::When("each class once"),
    ),
    (
        "maitre.profile.v1.ClassRule.min_total_score",
        Rule::Range(0, 15),
    ),
    (
        "maitre.profile.v1.ClassRule.min_total_score",
        Rule::When("class B's is at least 1 and below class A's"),
    ),
    (
        "maitre.profile.v1.ClassRule.follow_up_within_hours",
        Rule::Range(0, 2_160),
    ),
    (
        "maitre.profile.v1.ClassRule.reception_strategy",
        Rule::Required,
    ),
    (
        "maitre.profile.v1.ClassificationPolicy.window_days",
        Rule::Range(0, 3_650),
    ),
    ("maitre.profile.v1.ClassRule.follow_up_kind", Rule::Required),
    (
        "maitre.profile.v1.ClassRule.follow_up_kind",
        Rule::OneOf(&["call", "wechat", "visit"]),
    ),
    (
        "maitre.profile.v1.RfmThresholds.recency_days",
        Rule::When("exactly 4 ascending values"),
    ),
    (
        "maitre.profile.v1.RfmThresholds.frequency_visits",
        Rule::When("exactly 4 ascending values"),
    ),
    (
        "maitre.profile.v1.RfmThresholds.monetary_fen",
        Rule::When("exactly 4 ascending values"),
    ),
    (
        "maitre.profile.v1.ClassRule.service_level",
        Rule::OneOf(&["", "vip", "priority", "standard"]),
    ),
    (
        "maitre.profile.v1.ClassRule.reception_strategy",
        Rule::MaxChars(2_000),
    ),
    (
        "maitre.profile.v1.CreateApiKeyRequest.api_key",
        Rule::Required,
    ),
    ("maitre.profile.v1.ApiKey.name", Rule::Required),
    (
        "maitre.profile.v1.ApiKey.store_ids",
        Rule::When(
            "stores of the chain: required for a store manager or front desk key, empty for an HQ admin key",
        ),
    ),
    ("maitre.profile.v1.ApiKey.name", Rule::MaxChars(100)),
    ("maitre.profile.v1.ApiKey.role", Rule::Required),
    (
        "maitre.profile.v1.ApiKey.role",
        Rule::OneOf(&["ROLE_HQ_ADMIN", "ROLE_STORE_MANAGER", "ROLE_FRONT_DESK"]),
    ),
    // assignment
    ("maitre.assignment.v1.Manager.store_ids", Rule::Required),
    (
        "maitre.assignment.v1.UpsertManagerRequest.manager",
        Rule::Required,
    ),
    (
        "maitre.assignment.v1.TransferCustomerRequest.to_manager_id",
        Rule::Required,
    ),
    (
        "maitre.assignment.v1.SetManagerStatusRequest.status",
        Rule::Required,
    ),
    (
        "maitre.assignment.v1.UpdatePolicyRequest.policy",
        Rule::Required,
    ),
    (
        "maitre.assignment.v1.UpdatePolicyRequest.update_mask",
        Rule::Format {
            name: "field-mask",
            example: "strategy",
        },
    ),
    ("maitre.assignment.v1.Policy.strategy", Rule::Required),
    ("maitre.assignment.v1.Policy.lock_crossing", Rule::Required),
    (
        "maitre.assignment.v1.AssignOnContactRequest.store_id",
        Rule::Required,
    ),
    (
        "maitre.assignment.v1.AssignOnContactRequest.occurred_at",
        Rule::Required,
    ),
    (
        "maitre.assignment.v1.AssignOnContactRequest.source_event_id",
        Rule::Required,
    ),
    (
        "maitre.assignment.v1.StartBulkTransferRequest.to_manager_ids",
        Rule::Required,
    ),
    (
        "maitre.assignment.v1.StartBulkTransferRequest.request_id",
        Rule::Required,
    ),
    (
        "maitre.assignment.v1.GetManagerStatsRequest.period_start",
        Rule::Required,
    ),
    (
        "maitre.assignment.v1.GetManagerStatsRequest.period_end",
        Rule::Required,
    ),
    (
        "maitre.assignment.v1.GetManagerStatsRequest.period_end",
        Rule::When("after period_start"),
    ),
    // tagging
    ("maitre.tagging.v1.CreateTagRequest.tag", Rule::Required),
    ("maitre.tagging.v1.Tag.category", Rule::Required),
    ("maitre.tagging.v1.Tag.source", Rule::Required),
    (
        "maitre.tagging.v1.Tag.model",
        Rule::When(
            "required for a model tag: one of churn_risk, high_value, high_responder, new_dish_adopter",
        ),
    ),
    ("maitre.tagging.v1.Tag.name", Rule::Required),
    (
        "maitre.tagging.v1.Tag.name",
        Rule::Pattern("^[A-Za-z_][A-Za-z0-9_]*$"),
    ),
    (
        "maitre.tagging.v1.Tag.name",
        Rule::Format {
            name: "tag-name",
            example: "fuzz_tag",
        },
    ),
    ("maitre.tagging.v1.Tag.name", Rule::MaxChars(64)),
    ("maitre.tagging.v1.Tag.display_name", Rule::MaxChars(2_048)),
    ("maitre.tagging.v1.Tag.description", Rule::MaxChars(2_048)),
    ("maitre.tagging.v1.Tag.owner", Rule::MaxChars(2_048)),
    (
        "maitre.tagging.v1.Tag.rule",
        Rule::When("a rule expression (GET /v1/rules/functions); required for rule tags"),
    ),
    ("maitre.tagging.v1.Tag.rule", Rule::MaxChars(2_048)),
    (
        "maitre.tagging.v1.AddCustomerTagsRequest.note",
        Rule::MaxChars(1_024),
    ),
    (
        "maitre.tagging.v1.RemoveCustomerTagsRequest.note",
        Rule::MaxChars(1_024),
    ),
    (
        "maitre.tagging.v1.BulkTagSegmentRequest.note",
        Rule::MaxChars(1_024),
    ),
    (
        "maitre.tagging.v1.UpdateTagRequest.update_mask",
        Rule::Required,
    ),
    (
        "maitre.tagging.v1.TransitionTagRequest.lifecycle",
        Rule::Required,
    ),
    (
        "maitre.tagging.v1.TransitionTagRequest.lifecycle",
        Rule::OneOf(&[
            "TAG_LIFECYCLE_ACTIVE",
            "TAG_LIFECYCLE_DEPRECATED",
            "TAG_LIFECYCLE_RETIRED",
        ]),
    ),
    ("maitre.tagging.v1.PreviewRuleRequest.rule", Rule::Required),
    (
        "maitre.tagging.v1.PreviewRuleRequest.rule",
        Rule::Format {
            name: "rule-expression",
            example: "days_since_last_visit >= 60",
        },
    ),
    (
        "maitre.tagging.v1.PreviewRuleRequest.rule",
        Rule::MaxChars(2_048),
    ),
    (
        "maitre.tagging.v1.PreviewRuleRequest.sample_size",
        Rule::Range(0, 100),
    ),
    (
        "maitre.tagging.v1.CreateSegmentRequest.segment",
        Rule::Required,
    ),
    ("maitre.tagging.v1.Segment.name", Rule::Required),
    ("maitre.tagging.v1.Segment.name", Rule::MaxChars(200)),
    ("maitre.tagging.v1.Segment.expression", Rule::Required),
    (
        "maitre.tagging.v1.Segment.expression",
        Rule::Format {
            name: "segment-expression",
            example: "class == \"A\"",
        },
    ),
    // Rules and expressions: the parser reads up to 8 KiB, four bytes a character at most.
    (
        "maitre.tagging.v1.Segment.expression",
        Rule::MaxChars(2_048),
    ),
    (
        "maitre.tagging.v1.Segment.description",
        Rule::MaxChars(4_096),
    ),
    ("maitre.tagging.v1.SegmentRef.ref", Rule::Required),
    (
        "maitre.tagging.v1.SegmentRef.expression",
        Rule::Format {
            name: "segment-expression",
            example: "class == \"A\"",
        },
    ),
    (
        "maitre.tagging.v1.SegmentRef.expression",
        Rule::MaxChars(2_048),
    ),
    (
        "maitre.tagging.v1.BulkTagSegmentRequest.segment",
        Rule::Required,
    ),
    (
        "maitre.tagging.v1.CountSegmentRequest.segment",
        Rule::Required,
    ),
    (
        "maitre.tagging.v1.ListSegmentMembersRequest.segment",
        Rule::Required,
    ),
    (
        "maitre.tagging.v1.ListSegmentMembersRequest.page_size",
        Rule::Range(0, 1_000),
    ),
    (
        "maitre.tagging.v1.ListTagMembersRequest.page_size",
        Rule::Range(0, 1_000),
    ),
    (
        "maitre.tagging.v1.ExportSegmentRequest.segment",
        Rule::Required,
    ),
    (
        "maitre.tagging.v1.CompareGroupsRequest.groups",
        Rule::MinItems(2),
    ),
    (
        "maitre.tagging.v1.UpdateModelSettingsRequest.settings",
        Rule::Required,
    ),
    (
        "maitre.tagging.v1.ModelSettings.churn_threshold",
        Rule::Required,
    ),
    (
        "maitre.tagging.v1.ModelSettings.churn_threshold",
        Rule::Between(0.0, 1.0),
    ),
    (
        "maitre.tagging.v1.GetIngredientAudienceRequest.ingredient",
        Rule::Required,
    ),
    (
        "maitre.tagging.v1.GetIngredientAudienceRequest.ingredient",
        Rule::MaxChars(100),
    ),
    (
        "maitre.tagging.v1.StartRecomputeRequest.request_id",
        Rule::Required,
    ),
    // notification
    (
        "maitre.notification.v1.CreateTemplateRequest.template",
        Rule::Required,
    ),
    ("maitre.notification.v1.Template.name", Rule::Required),
    ("maitre.notification.v1.Template.name", Rule::MaxChars(80)),
    ("maitre.notification.v1.Template.channel", Rule::Required),
    ("maitre.notification.v1.Template.purpose", Rule::Required),
    (
        "maitre.notification.v1.Template.purpose",
        Rule::When("the staff purpose with the staff inbox channel only, and only it there"),
    ),
    (
        "maitre.notification.v1.ProviderParameter.name",
        Rule::Required,
    ),
    (
        "maitre.notification.v1.ProviderParameter.variable",
        Rule::Required,
    ),
    (
        "maitre.notification.v1.ProviderParameter.variable",
        Rule::When("one of the template's variables"),
    ),
    (
        "maitre.notification.v1.Template.subject",
        Rule::When("required for e-mail; SMS has none"),
    ),
    (
        "maitre.notification.v1.Template.locale",
        Rule::OneOf(&["", "zh-CN", "en"]),
    ),
    (
        "maitre.notification.v1.Template.subject",
        Rule::MaxChars(200),
    ),
    (
        "maitre.notification.v1.Template.body",
        Rule::MaxChars(4_000),
    ),
    (
        "maitre.notification.v1.PreviewTemplateRequest.template_id",
        Rule::When("a template id or a body is required"),
    ),
    (
        "maitre.notification.v1.CreateAutomationRequest.automation",
        Rule::Required,
    ),
    ("maitre.notification.v1.Automation.name", Rule::Required),
    ("maitre.notification.v1.Automation.name", Rule::MaxChars(80)),
    ("maitre.notification.v1.Automation.trigger", Rule::Required),
    ("maitre.notification.v1.Automation.actions", Rule::Required),
    ("maitre.notification.v1.Trigger.kind", Rule::Required),
    (
        "maitre.notification.v1.Trigger.kind",
        Rule::OneOf(&[
            "TRIGGER_KIND_TAG_ADDED",
            "TRIGGER_KIND_TAG_REMOVED",
            "TRIGGER_KIND_SEGMENT_ENTERED",
            "TRIGGER_KIND_BIRTHDAY",
            "TRIGGER_KIND_ANNIVERSARY",
            "TRIGGER_KIND_OWNER_CHANGED",
            "TRIGGER_KIND_FOLLOW_UP_DUE",
            "TRIGGER_KIND_FOLLOW_UP_OVERDUE",
        ]),
    ),
    (
        "maitre.notification.v1.Trigger.days_before",
        Rule::Range(0, 60),
    ),
    (
        "maitre.notification.v1.Trigger.days_before",
        Rule::When("for TRIGGER_KIND_FOLLOW_UP_OVERDUE: the days a plan is overdue, 1..=60"),
    ),
    (
        "maitre.notification.v1.Trigger.tag",
        Rule::When("the tag key of a tag trigger (lowercase letters, digits and `_`)"),
    ),
    (
        "maitre.notification.v1.Trigger.segment_id",
        Rule::When("required for a segment trigger: a segment of the chain"),
    ),
    (
        "maitre.notification.v1.Conditions.has_tags",
        Rule::Pattern("^[a-z0-9_]+$"),
    ),
    (
        "maitre.notification.v1.Conditions.lacks_tags",
        Rule::Pattern("^[a-z0-9_]+$"),
    ),
    (
        "maitre.notification.v1.Conditions.has_tags",
        Rule::Format {
            name: "tag-key",
            example: "vip",
        },
    ),
    (
        "maitre.notification.v1.Conditions.lacks_tags",
        Rule::Format {
            name: "tag-key",
            example: "churned",
        },
    ),
    (
        "maitre.notification.v1.Conditions.classes",
        Rule::OneOf(&["CUSTOMER_CLASS_A", "CUSTOMER_CLASS_B", "CUSTOMER_CLASS_C"]),
    ),
    ("maitre.notification.v1.Action.kind", Rule::Required),
    ("maitre.notification.v1.Action.title", Rule::MaxChars(500)),
    (
        "maitre.notification.v1.Action.title",
        Rule::When("required for a reminder or follow-up action"),
    ),
    // A follow-up is due within a year (notification's MAX_FOLLOW_UP_DAYS, in hours).
    (
        "maitre.notification.v1.Action.due_in_hours",
        Rule::Range(0, 365 * 24),
    ),
    (
        "maitre.notification.v1.Action.template_id",
        Rule::When("a template of the chain; required for a message action"),
    ),
    (
        "maitre.notification.v1.Action.webhook_url",
        Rule::MaxChars(2_048),
    ),
    (
        "maitre.notification.v1.Action.webhook_url",
        Rule::When("required for a webhook action: an https URL of a public host"),
    ),
    (
        "maitre.notification.v1.InstallPresetRequest.preset",
        Rule::OneOf(&[
            "birthday_dessert_greeting",
            "birthday_owner_reminder",
            "winback_60d",
            "new_owner_introduction",
            "a_class_follow_up_reminder",
        ]),
    ),
    (
        "maitre.notification.v1.CreateCampaignRequest.campaign",
        Rule::Required,
    ),
    ("maitre.notification.v1.Campaign.name", Rule::Required),
    ("maitre.notification.v1.Campaign.segment", Rule::Required),
    (
        "maitre.notification.v1.Campaign.segment",
        Rule::When("a saved segment id or a segment expression that resolves in the chain"),
    ),
    (
        "maitre.notification.v1.Campaign.template_id",
        Rule::Required,
    ),
    (
        "maitre.notification.v1.Campaign.template_id",
        Rule::When("a template of the chain"),
    ),
    (
        "maitre.notification.v1.SendMessageRequest.customer_id",
        Rule::Required,
    ),
    (
        "maitre.notification.v1.SendMessageRequest.channel",
        Rule::Required,
    ),
    (
        "maitre.notification.v1.SendMessageRequest.channel",
        Rule::OneOf(&[
            "MESSAGE_CHANNEL_SMS",
            "MESSAGE_CHANNEL_WECHAT",
            "MESSAGE_CHANNEL_EMAIL",
            "MESSAGE_CHANNEL_APP_PUSH",
        ]),
    ),
    (
        "maitre.notification.v1.SendMessageRequest.request_id",
        Rule::Required,
    ),
    (
        "maitre.notification.v1.SendMessageRequest.template_id",
        Rule::When("a template of the chain"),
    ),
    (
        "maitre.notification.v1.RecordInboundReplyRequest.channel",
        Rule::Required,
    ),
    (
        "maitre.notification.v1.RecordInboundReplyRequest.customer_id",
        Rule::Required,
    ),
    (
        "maitre.notification.v1.ReportDeliveryStatusRequest.status",
        Rule::Required,
    ),
    (
        "maitre.notification.v1.ReportDeliveryStatusRequest.status",
        Rule::OneOf(&["MESSAGE_STATUS_DELIVERED", "MESSAGE_STATUS_FAILED"]),
    ),
    (
        "maitre.notification.v1.UpdateChainPolicyRequest.policy",
        Rule::Required,
    ),
    (
        "maitre.notification.v1.FrequencyCap.channel",
        Rule::Required,
    ),
    (
        "maitre.notification.v1.FrequencyCap.channel",
        Rule::OneOf(&[
            "MESSAGE_CHANNEL_SMS",
            "MESSAGE_CHANNEL_WECHAT",
            "MESSAGE_CHANNEL_EMAIL",
            "MESSAGE_CHANNEL_APP_PUSH",
        ]),
    ),
    (
        "maitre.notification.v1.FrequencyCap.max_messages",
        Rule::Required,
    ),
    (
        "maitre.notification.v1.FrequencyCap.window_hours",
        Rule::Required,
    ),
    (
        "maitre.notification.v1.ChainPolicy.max_attempts",
        Rule::Range(0, 20),
    ),
    (
        "maitre.notification.v1.ChainPolicy.quiet_hours",
        Rule::When("start and end differ"),
    ),
    (
        "maitre.notification.v1.PutProviderAccountRequest.kind",
        Rule::Required,
    ),
    (
        "maitre.notification.v1.PutProviderAccountRequest.kind",
        Rule::When(
            "a kind that carries the channel: tencent_sms and aliyun_sms for sms, wechat_official_account, wechat_mini_program and wecom_external_contact for wechat, smtp for email, wecom for the staff inbox, webhook and log for any",
        ),
    ),
    (
        "maitre.notification.v1.PutProviderAccountRequest.settings",
        Rule::When(
            "the settings the kind needs: secret_id, region, sdk_app_id (tencent_sms), access_key_id (aliyun_sms), corp_id, agent_id (wecom), appid (wechat_official_account, wechat_mini_program), corp_id (wecom_external_contact), host, port, username, from (smtp), url (webhook)",
        ),
    ),
    (
        "maitre.notification.v1.PutProviderAccountRequest.kind",
        Rule::OneOf(&[
            "tencent_sms",
            "aliyun_sms",
            "wecom",
            "wechat_official_account",
            "wechat_mini_program",
            "wecom_external_contact",
            "smtp",
            "webhook",
            "log",
        ]),
    ),
    (
        "maitre.notification.v1.GetProviderAccountRequest.channel",
        Rule::OneOf(&["sms", "wechat", "email", "app_push", "staff_inbox"]),
    ),
    (
        "maitre.notification.v1.PutProviderAccountRequest.channel",
        Rule::OneOf(&["sms", "wechat", "email", "app_push", "staff_inbox"]),
    ),
];

/// The largest `page_size` a list call takes unless [`FIELD_RULES`] says otherwise (0 asks
/// for the service's default page).
pub const MAX_PAGE_SIZE: i64 = 500;

/// The rules of one field: its entries of [`FIELD_RULES`], and the page-size range of a
/// `page_size` field.
pub fn rules(field: &FieldDescriptor) -> Vec<Rule> {
    let name = field.full_name();
    let mut found: Vec<Rule> = FIELD_RULES
        .iter()
        .filter(|(n, _)| *n == name)
        .map(|(_, rule)| *rule)
        .collect();
    if field.name() == "page_size" && !found.iter().any(|r| matches!(r, Rule::Range(..))) {
        found.push(Rule::Range(0, MAX_PAGE_SIZE));
    }
    if field.name() == "page_token" && found.is_empty() {
        found.push(Rule::Format {
            name: "page-token",
            example: "",
        });
    }
    found
}

/// Whether one field of the oneof `name` (full name) must be given.
pub fn oneof_required(name: &str) -> bool {
    FIELD_RULES
        .iter()
        .any(|(n, rule)| *n == name && *rule == Rule::Required)
}

/// Fields with rules the kit enforces ([`Rule::MaxChars`], [`Rule::Range`],
/// [`Rule::Between`], and [`Rule::OneOf`] on a value given), by full name:
/// looked up once per field of every request, so a map.
fn enforced(field: &FieldDescriptor) -> Option<&'static [Rule]> {
    static TABLE: std::sync::OnceLock<std::collections::HashMap<String, Vec<Rule>>> =
        std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table: std::collections::HashMap<String, Vec<Rule>> = Default::default();
        for (name, rule) in FIELD_RULES {
            if matches!(
                rule,
                Rule::MaxChars(_) | Rule::Range(..) | Rule::Between(..) | Rule::OneOf(_)
            ) {
                table.entry((*name).to_owned()).or_default().push(*rule);
            }
        }
        table
    });
    table.get(field.full_name()).map(Vec::as_slice)
}

/// The first enforced rule `value` (of `field`) breaks.
fn broken_rule(field: &FieldDescriptor, value: &Value) -> Option<Violation> {
    let own = enforced(field).unwrap_or(&[]);
    let default_page = (field.name() == "page_size"
        && !own.iter().any(|r| matches!(r, Rule::Range(..))))
    .then_some(Rule::Range(0, MAX_PAGE_SIZE));
    for rule in own.iter().chain(default_page.iter()) {
        let broken = match (rule, value) {
            (Rule::MaxChars(max), Value::String(text)) if text.chars().count() > *max => Some(
                format!("at most {max} characters (got {})", text.chars().count()),
            ),
            (Rule::Range(min, max), Value::I32(_) | Value::I64(_) | Value::U32(_)) => {
                let got = match value {
                    Value::I32(v) => i64::from(*v),
                    Value::I64(v) => *v,
                    Value::U32(v) => i64::from(*v),
                    _ => 0,
                };
                (!(*min..=*max).contains(&got)).then(|| format!("must be {min}..={max}, not {got}"))
            }
            (Rule::Between(low, high), Value::F64(got)) => (!(*got > *low && *got < *high))
                .then(|| format!("must be strictly between {low} and {high}, not {got}")),
            (Rule::OneOf(names), Value::String(text)) => (!names.contains(&text.as_str()))
                .then(|| format!("must be one of {} (got `{text}`)", listed(names))),
            (Rule::OneOf(names), Value::EnumNumber(number)) => {
                let name = match field.kind() {
                    prost_reflect::Kind::Enum(e) => e
                        .get_value(*number)
                        .map_or_else(|| number.to_string(), |v| v.name().to_owned()),
                    _ => number.to_string(),
                };
                (!names.contains(&name.as_str()))
                    .then(|| format!("must be one of {} (got {name})", listed(names)))
            }
            _ => None,
        };
        if let Some(message) = broken {
            return Some(Violation {
                field: String::new(),
                message,
            });
        }
    }
    None
}

/// `a, b, c`, the empty text shown as `""`.
fn listed(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| if n.is_empty() { "\"\"" } else { *n })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The item bound of a repeated or map field.
pub fn max_items(field: &FieldDescriptor) -> usize {
    MAX_ITEMS_BY_FIELD
        .iter()
        .find(|(name, _)| *name == field.full_name())
        .map_or(MAX_ITEMS, |(_, max)| *max)
}

/// A request field outside its bounds: its path and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Proto field path (`customer.profile.dietary_habits`, `events[3].occurred_at`).
    pub field: String,
    /// What the bound is.
    pub message: String,
}

/// The first field of `message` outside its bounds.
pub fn violation(message: &DynamicMessage) -> Option<Violation> {
    in_message(message)
}

// The walk allocates nothing until it finds a violation: each level returns the path below
// it, and the callers prefix their own part on the way back up.

fn in_message(message: &DynamicMessage) -> Option<Violation> {
    let own = match message.descriptor().full_name() {
        "google.protobuf.Timestamp" => time(message),
        "maitre.common.v1.Date" => date(message),
        "maitre.common.v1.Money" => money(message),
        _ => None,
    };
    if let Some((field, message)) = own {
        return Some(Violation {
            field: field.to_owned(),
            message,
        });
    }
    message.fields().find_map(|(field, value)| {
        if field.is_list() || field.is_map() {
            let count = match value {
                Value::List(items) => items.len(),
                Value::Map(entries) => entries.len(),
                _ => 0,
            };
            let max = max_items(&field);
            if count > max {
                return Some(Violation {
                    field: field.name().to_owned(),
                    message: format!("at most {max} items (got {count})"),
                });
            }
        }
        let broken = match value {
            Value::List(items) => items.iter().enumerate().find_map(|(i, item)| {
                broken_rule(&field, item).map(|found| found.under(format_args!("[{i}]")))
            }),
            Value::Map(_) => None,
            value => broken_rule(&field, value),
        };
        if let Some(found) = broken {
            return Some(found.under(field.name()));
        }
        in_value(value).map(|below| below.under(field.name()))
    })
}

impl Violation {
    /// This violation seen from the parent: `name` then the path below it.
    fn under(mut self, name: impl std::fmt::Display) -> Violation {
        self.field = match self.field.as_str() {
            "" => name.to_string(),
            below if below.starts_with('[') => format!("{name}{below}"),
            below => format!("{name}.{below}"),
        };
        self
    }
}

fn too_long(text: &str) -> bool {
    text.len() > MAX_CHARS && text.chars().count() > MAX_CHARS
}

fn long_text(text: &str) -> Violation {
    Violation {
        field: String::new(),
        message: format!(
            "at most {MAX_CHARS} characters (got {})",
            text.chars().count()
        ),
    }
}

/// The violation in `value`, its path relative to the field holding it (`""`, `[3].name`).
fn in_value(value: &Value) -> Option<Violation> {
    match value {
        Value::String(text) if too_long(text) => Some(long_text(text)),
        Value::Message(message) => in_message(message),
        Value::List(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| in_value(item).map(|below| below.under(format_args!("[{i}]")))),
        Value::Map(entries) => entries.iter().find_map(|(key, item)| match key {
            MapKey::String(key) if too_long(key) => Some(long_text(key).under("[]")),
            MapKey::String(key) => in_value(item).map(|below| below.under(format_args!("[{key}]"))),
            _ => in_value(item).map(|below| below.under("[]")),
        }),
        _ => None,
    }
}

fn get_i64(message: &DynamicMessage, name: &str) -> i64 {
    match message.get_field_by_name(name).as_deref() {
        Some(Value::I64(v)) => *v,
        Some(Value::I32(v)) => i64::from(*v),
        _ => 0,
    }
}

type Found = Option<(&'static str, String)>;

fn time(message: &DynamicMessage) -> Found {
    let seconds = get_i64(message, "seconds");
    (!(MIN_TIME_SECONDS..END_TIME_SECONDS).contains(&seconds))
        .then(|| ("", format!("must be from {MIN_TIME} and before {END_TIME}")))
}

fn date(message: &DynamicMessage) -> Found {
    let year = get_i64(message, "year");
    if year != 0 && !(i64::from(MIN_YEAR)..=i64::from(MAX_YEAR)).contains(&year) {
        let text = format!("must be 0 (unknown) or {MIN_YEAR}..={MAX_YEAR}, not {year}");
        return Some(("year", text));
    }
    let month = get_i64(message, "month");
    if !(1..=12).contains(&month) {
        return Some(("month", format!("must be 1..=12, not {month}")));
    }
    let day = get_i64(message, "day");
    if !(1..=31).contains(&day) {
        return Some(("day", format!("must be 1..=31, not {day}")));
    }
    None
}

fn money(message: &DynamicMessage) -> Found {
    let currency = message.get_field_by_name("currency");
    let currency = currency.as_deref().and_then(Value::as_str).unwrap_or("");
    (!currency.is_empty() && !CURRENCIES.contains(&currency)).then(|| {
        (
            "currency",
            format!(
                "must be empty (the chain's currency) or one of {}",
                CURRENCIES.join(", ")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use maitre_proto::common::v1::{Date, IdentityKey, Money};
    use maitre_proto::profile::v1::{
        ContactEvent, Profile, RecordEventRequest, RecordEventsBatchRequest, UpsertCustomerRequest,
    };
    use prost::Message;

    fn check<M: Message>(message: &M, name: &str) -> Option<Violation> {
        let descriptor = maitre_proto::descriptor_pool()
            .get_message_by_name(name)
            .unwrap();
        let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice());
        violation(&dynamic.unwrap())
    }

    fn event() -> ContactEvent {
        ContactEvent {
            external_id: "pos-1".into(),
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            amount: Some(Money {
                amount_fen: 100,
                currency: "CNY".into(),
            }),
            ..Default::default()
        }
    }

    fn record(event: ContactEvent) -> Option<Violation> {
        let request = RecordEventRequest { event: Some(event) };
        check(&request, "maitre.profile.v1.RecordEventRequest")
    }

    #[test]
    fn times_outside_the_window_are_refused_naming_the_field() {
        assert_eq!(record(event()), None);
        let mut early = event();
        early.occurred_at = Some(prost_types::Timestamp {
            seconds: -62_135_596_800, // 0001-01-01
            nanos: 0,
        });
        let found = record(early).unwrap();
        assert_eq!(found.field, "event.occurred_at");
        assert!(found.message.contains(MIN_TIME), "{found:?}");
        let mut late = event();
        late.occurred_at = Some(prost_types::Timestamp {
            seconds: END_TIME_SECONDS,
            nanos: 0,
        });
        assert_eq!(record(late).unwrap().field, "event.occurred_at");
    }

    #[test]
    fn money_is_in_the_chains_currency() {
        let mut event = event();
        event.amount.as_mut().unwrap().currency = "XXX'; --".into();
        assert_eq!(
            record(event.clone()).unwrap().field,
            "event.amount.currency"
        );
        event.amount.as_mut().unwrap().currency = String::new();
        assert_eq!(record(event), None);
    }

    fn upsert(profile: Profile, keys: usize) -> Option<Violation> {
        let key = IdentityKey {
            value: "+8613800138000".into(),
            ..Default::default()
        };
        let request = UpsertCustomerRequest {
            identity_keys: vec![key; keys],
            profile: Some(profile),
            ..Default::default()
        };
        check(&request, "maitre.profile.v1.UpsertCustomerRequest")
    }

    #[test]
    fn repeated_fields_are_bounded() {
        assert_eq!(upsert(Profile::default(), 20), None);
        assert_eq!(
            upsert(Profile::default(), 21).unwrap().field,
            "identity_keys"
        );
        let habits = Profile {
            dietary_habits: vec!["少辣".into(); 100_000],
            ..Default::default()
        };
        let found = upsert(habits, 1).unwrap();
        assert_eq!(found.field, "profile.dietary_habits");
        assert_eq!(found.message, "at most 30 items (got 100000)");
        // A batch carries up to its own bound, every event still checked.
        let mut batch = RecordEventsBatchRequest {
            events: vec![event(); 200],
        };
        let name = "maitre.profile.v1.RecordEventsBatchRequest";
        assert_eq!(check(&batch, name), None);
        batch.events[150].amount.as_mut().unwrap().currency = "USD".into();
        assert_eq!(
            check(&batch, name).unwrap().field,
            "events[150].amount.currency"
        );
    }

    #[test]
    fn texts_are_bounded() {
        // A field without a tighter limit of its own in FIELD_RULES.
        let gender = |chars: usize| Profile {
            gender: "長".repeat(chars),
            ..Default::default()
        };
        assert_eq!(upsert(gender(MAX_CHARS), 1), None);
        let found = upsert(gender(MAX_CHARS + 1), 1).unwrap();
        assert_eq!(found.field, "profile.gender");
        assert_eq!(found.message, "at most 10000 characters (got 10001)");
        // The table's own limit where it has one.
        let name = Profile {
            name: "長".repeat(65),
            ..Default::default()
        };
        let found = upsert(name, 1).unwrap();
        assert_eq!(found.field, "profile.name");
        assert_eq!(found.message, "at most 64 characters (got 65)");
    }

    /// Every entry of the table names a field (or oneof) of the contract, and every value
    /// an enum rule lists is one of the enum's: a typo would state and enforce nothing.
    #[test]
    fn every_rule_names_a_field_of_the_contract() {
        let pool = maitre_proto::descriptor_pool();
        for (name, rule) in FIELD_RULES {
            let (message, field) = name.rsplit_once('.').unwrap();
            let message = pool
                .get_message_by_name(message)
                .unwrap_or_else(|| panic!("{name}: no such message"));
            let Some(field) = message.get_field_by_name(field) else {
                assert!(
                    *rule == Rule::Required && message.oneofs().any(|o| o.full_name() == *name),
                    "{name}: no such field"
                );
                continue;
            };
            if let (Rule::OneOf(values), prost_reflect::Kind::Enum(e)) = (rule, field.kind()) {
                for value in *values {
                    assert!(e.get_value_by_name(value).is_some(), "{name}: {value}");
                }
            }
        }
    }

    #[test]
    fn field_rules_hold_lengths_ranges_and_listed_values() {
        use maitre_proto::notification::v1::{
            Automation, Conditions, CreateAutomationRequest, PutProviderAccountRequest,
        };
        use maitre_proto::profile::v1::{CreateStoreRequest, ListCustomersRequest, Store};
        use maitre_proto::tagging::v1::{TagLifecycle, TransitionTagRequest};

        let page = |page_size| ListCustomersRequest {
            page_size,
            ..Default::default()
        };
        let name = "maitre.profile.v1.ListCustomersRequest";
        assert_eq!(check(&page(500), name), None);
        let found = check(&page(501), name).unwrap();
        assert_eq!(found.field, "page_size");
        assert_eq!(found.message, "must be 0..=500, not 501");
        assert_eq!(check(&page(-1), name).unwrap().field, "page_size");

        let store = |chars| CreateStoreRequest {
            store: Some(Store {
                name: "店".repeat(chars),
                ..Default::default()
            }),
            ..Default::default()
        };
        let name = "maitre.profile.v1.CreateStoreRequest";
        assert_eq!(check(&store(100), name), None);
        assert_eq!(check(&store(101), name).unwrap().field, "store.name");

        // A value outside the ones a field takes is refused listing them.
        let transition = TransitionTagRequest {
            tag_id: "t1".into(),
            lifecycle: TagLifecycle::Draft as i32,
        };
        let found = check(&transition, "maitre.tagging.v1.TransitionTagRequest").unwrap();
        assert_eq!(found.field, "lifecycle");
        assert!(
            found
                .message
                .contains("TAG_LIFECYCLE_ACTIVE, TAG_LIFECYCLE_DEPRECATED"),
            "{found:?}"
        );
        let provider = PutProviderAccountRequest {
            channel: "fax".into(),
            ..Default::default()
        };
        let found = check(
            &provider,
            "maitre.notification.v1.PutProviderAccountRequest",
        )
        .unwrap();
        assert_eq!(found.field, "channel");
        assert!(found.message.contains("sms, wechat"), "{found:?}");
        // Each item of a repeated enum.
        let automation = CreateAutomationRequest {
            automation: Some(Automation {
                conditions: Some(Conditions {
                    classes: vec![1, 0],
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let name = "maitre.notification.v1.CreateAutomationRequest";
        let found = check(&automation, name).unwrap();
        assert_eq!(found.field, "automation.conditions.classes[1]");
    }

    #[test]
    fn dates_are_bounded() {
        let birthday = |year, month, day| Profile {
            birthday: Some(Date { year, month, day }),
            ..Default::default()
        };
        assert_eq!(upsert(birthday(0, 2, 29), 1), None);
        assert_eq!(upsert(birthday(1988, 12, 31), 1), None);
        let found = upsert(birthday(2999, 1, 1), 1).unwrap();
        assert_eq!(found.field, "profile.birthday.year");
        assert_eq!(
            upsert(birthday(1988, 13, 1), 1).unwrap().field,
            "profile.birthday.month"
        );
    }
}
