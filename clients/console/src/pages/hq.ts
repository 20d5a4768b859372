// HQ (总部): the rule editor with live preview (count, sample, errors at their position),
// creating and activating the rule's tag, the segment count, and the tag catalog; the
// analysis charts (hq-analysis.ts) and message delivery status (hq-deliveries.ts).

import type { Automation, Campaign, MaitreClient, Segment, Strategy, Tag, TagLifecycle } from "@maitre/client";
import { t, word } from "../i18n";
import type { Session } from "../session";
import { attempt, clear, h, pagedTable, section } from "../ui";
import { guestName } from "./common";
import { analysisCards } from "./hq-analysis";
import { deliveriesCard } from "./hq-deliveries";
import { exportButton } from "./segment-export";

export function hqPage(main: HTMLElement, api: MaitreClient, _session: Session): () => void {
  let stopped = false;
  const rule = h("textarea", { "data-test": "rule", rows: 4, spellcheck: false, placeholder: 'visits(30d) >= 2 and avg_ticket(90d) > 150' });
  const previewBox = h("div", { "data-test": "preview" });
  const ruleErrors = h("ol", { class: "rule-errors", "data-test": "rule-errors" });
  const errors = h("div");
  let generation = 0;

  // Validate and preview on every pause in typing; answers to older text are dropped.
  async function preview() {
    const mine = ++generation;
    const text = rule.value;
    if (!text.trim()) {
      clear(previewBox);
      clear(ruleErrors);
      return;
    }
    const result = await attempt(errors, async () => {
      const validation = await api.call("TaggingService_ValidateRule", { body: { rule: text } });
      if (!validation.valid) return { validation, preview: undefined };
      const preview = await api.call("TaggingService_PreviewRule", { body: { rule: text, sampleSize: 5 } });
      return { validation, preview };
    });
    if (mine !== generation || !result) return;
    const lines = text.split("\n");
    clear(
      ruleErrors,
      ...(result.validation.errors ?? []).map((e) => {
        const line = lines[(e.line ?? 1) - 1] ?? "";
        const caret = " ".repeat(Math.max((e.column ?? 1) - 1, 0)) + "^";
        return h("li", { "data-test": "rule-error" }, `${t("rule")} ${e.line}:${e.column} — ${e.message}`, h("pre", {}, `${line}\n${caret}`));
      }),
    );
    if (!result.preview) {
      clear(previewBox);
      return;
    }
    const p = result.preview;
    const names = await Promise.all((p.sampleCustomerIds ?? []).map((id) => guestName(api, id)));
    const count = Number(p.memberCount ?? 0);
    const total = Number(p.totalCustomers ?? 0);
    clear(
      previewBox,
      h("p", { "data-test": "preview-count", "data-count": count }, t("matching", { count, total })),
      h("div", { class: "meter" }, h("div", { style: `width:${total ? (100 * count) / total : 0}%` })),
      names.length ? h("p", { class: "muted" }, `${t("sample")}: ${names.join("、")}`) : null,
    );
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  rule.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => void preview(), 300);
  });

  // Create and activate.
  const tagName = h("input", { "data-test": "tag-name", placeholder: "regulars" });
  const displayName = h("input", { "data-test": "display-name", placeholder: "常客" });
  const activated = h("div", { "data-test": "activated" });
  const segment = h("div", { "data-test": "segment" });

  async function createAndActivate() {
    clear(activated);
    clear(segment);
    const tag = await attempt(errors, async () => {
      const created = await api.call("TaggingService_CreateTag", {
        body: {
          tag: { name: tagName.value.trim(), displayName: displayName.value.trim(), category: "TAG_CATEGORY_BEHAVIOUR", source: "TAG_SOURCE_RULE", rule: rule.value },
          requestId: `console-${crypto.randomUUID()}`,
        },
      });
      const id = created.tag?.tagId ?? "";
      await api.call("TaggingService_TransitionTag", { path: { tag_id: id }, body: { tagId: id, lifecycle: "TAG_LIFECYCLE_ACTIVE" } });
      return created.tag;
    });
    if (!tag) return;
    clear(activated, h("p", { class: "ok" }, t("activated", { name: tag.displayName || tag.name || "" })));
    segmentName.value = tag.displayName || tag.name || "";
    expression.value = tag.name ?? "";
    void tags.first();
    // Activation tags the chain's guests in the background: count the segment until it settles.
    let last = -1;
    let same = 0;
    while (!stopped && same < 3) {
      const r = await attempt(segment, () => api.call("TaggingService_CountSegment", { body: { segment: { expression: tag.name } } }));
      if (!r) return;
      const count = Number(r.count ?? 0);
      same = count === last ? same + 1 : 0;
      last = count;
      clear(segment, h("p", { "data-test": "segment-count", "data-count": count, "data-settled": String(same >= 3) }, `${t("segmentCount")}: ${count}`));
      await new Promise((res) => setTimeout(res, 500));
    }
    void tags.reload();
  }

  const tagErrors = h("div");
  const tags = pagedTable<Tag>({
    test: "tags",
    columns: [
      { label: "displayName", cell: (tag) => `${tag.displayName ?? ""} (${tag.name})` },
      {
        label: "lifecycle",
        cell: (tag) => {
          const lifecycles: TagLifecycle[] = ["TAG_LIFECYCLE_DRAFT", "TAG_LIFECYCLE_ACTIVE", "TAG_LIFECYCLE_DEPRECATED", "TAG_LIFECYCLE_RETIRED"];
          const select = h("select", { class: "small", "data-test": `lifecycle-${tag.name}` }, ...lifecycles.map((l) => h("option", { value: l }, word(l))));
          select.value = tag.lifecycle ?? "TAG_LIFECYCLE_DRAFT";
          select.addEventListener("change", async () => {
            const done = await attempt(tagErrors, () =>
              api.call("TaggingService_TransitionTag", { path: { tag_id: tag.tagId ?? "" }, body: { tagId: tag.tagId, lifecycle: select.value as Exclude<TagLifecycle, "TAG_LIFECYCLE_UNSPECIFIED" | "TAG_LIFECYCLE_DRAFT"> } }),
            );
            void tags.reload();
            if (!done) select.value = tag.lifecycle ?? "";
          });
          return select;
        },
      },
      { label: "members", cell: (tag) => String(tag.memberCount ?? 0) },
      { label: "rule", cell: (tag) => h("code", {}, tag.rule ?? "") },
    ],
    load: async (pageToken) => {
      const r = await api.call("TaggingService_ListTags", { query: { page_size: 10, page_token: pageToken } });
      return { items: r.tags ?? [], nextPageToken: r.nextPageToken };
    },
  });

  // Segments: saved expressions over tags, each with its count now.
  const segmentName = h("input", { "data-test": "segment-name" });
  const expression = h("input", { "data-test": "segment-expression", placeholder: "recent_visitor and not lapsed_60d" });
  const segmentErrors = h("div");
  const segments = pagedTable<Segment>({
    test: "segments",
    columns: [
      { label: "segmentName", cell: (s) => s.name ?? "" },
      { label: "expression", cell: (s) => h("code", {}, s.expression ?? "") },
      {
        label: "count",
        cell: (s) =>
          api
            .call("TaggingService_CountSegment", { body: { segment: { segmentId: s.segmentId } } })
            .then((r) => h("span", { "data-test": "segment-row-count" }, String(Number(r.count ?? 0))))
            .catch((e) => h("span", { class: "error" }, String(e.message))),
      },
      { label: "export", cell: (s) => exportButton(api, s) },
    ],
    load: async (pageToken) => {
      const r = await api.call("TaggingService_ListSegments", { query: { page_size: 10, page_token: pageToken } });
      return { items: r.segments ?? [], nextPageToken: r.nextPageToken };
    },
  });
  async function saveSegment() {
    const saved = await attempt(segmentErrors, () =>
      api.call("TaggingService_CreateSegment", {
        body: { segment: { name: segmentName.value.trim(), expression: expression.value.trim() }, requestId: `console-segment-${crypto.randomUUID()}` },
      }),
    );
    if (saved) void segments.first();
  }

  // Allocation and lock policy (the chain's default; store overrides stay in the API).
  const strategies: Strategy[] = ["STRATEGY_DAILY_EVEN_SPLIT", "STRATEGY_MONTHLY_EVEN_SPLIT", "STRATEGY_DAILY_ROTATION"];
  const strategy = h("select", { "data-test": "policy-strategy" }, ...strategies.map((v) => h("option", { value: v }, word(v))));
  const threshold = h("input", { "data-test": "policy-threshold", type: "number", min: 0, step: "1" });
  const windowDays = h("input", { "data-test": "policy-window", type: "number", min: 1 });
  const expiryDays = h("input", { "data-test": "policy-expiry", type: "number", min: 1 });
  const policyResult = h("div", { "data-test": "policy-result" });
  void attempt(policyResult, async () => {
    const { policy } = await api.call("AssignmentService_GetPolicy", {});
    strategy.value = policy?.strategy ?? strategies[0];
    threshold.value = String(Number(policy?.valueLockThresholdFen ?? 0) / 100);
    windowDays.value = String(policy?.valueWindowDays ?? "");
    expiryDays.value = String(policy?.lockExpiryDays ?? "");
    loaded = policyFields();
  });
  // Only the fields changed since loading are sent (the update mask names them).
  let loaded: Record<string, string> = {};
  const policyFields = () => ({ strategy: strategy.value, valueLockThresholdFen: threshold.value, valueWindowDays: windowDays.value, lockExpiryDays: expiryDays.value });
  async function savePolicy() {
    const now = policyFields();
    const changed = Object.keys(now).filter((k) => now[k as keyof typeof now] !== loaded[k]);
    const saved = await attempt(policyResult, async () => {
      if (changed.length === 0) return true;
      await api.call("AssignmentService_UpdatePolicy", {
        body: {
          policy: {
            strategy: strategy.value as Exclude<Strategy, "STRATEGY_UNSPECIFIED">,
            valueLockThresholdFen: String(Math.round(Number(threshold.value) * 100)),
            valueWindowDays: Number(windowDays.value),
            lockExpiryDays: Number(expiryDays.value),
          },
          updateMask: changed.join(","),
        },
      });
      loaded = now;
      return true;
    });
    if (saved) clear(policyResult, h("p", { class: "ok" }, `${t("saved")} ✓`));
  }
  const policyCard = section(
    "policy",
    "policy",
    h(
      "div",
      { class: "form" },
      h("label", {}, t("strategy"), strategy),
      h("label", {}, t("lockThreshold"), threshold),
      h("label", {}, t("valueWindow"), windowDays),
      h("label", {}, t("lockExpiry"), expiryDays),
      h("button", { "data-test": "policy-save", onclick: savePolicy }, t("save")),
    ),
    policyResult,
  );

  // Classification: each class with its reception strategy (接待策略) and follow-up rule.
  const classes = h("table", { "data-test": "classes" });
  const classErrors = h("div");
  void attempt(classErrors, async () => {
    const { policy } = await api.call("ProfileService_GetClassificationPolicy", {});
    clear(
      classes,
      h("thead", {}, h("tr", {}, ...(["klass", "reception", "serviceLevel", "followUpWithin"] as const).map((k) => h("th", {}, t(k))))),
      h(
        "tbody",
        {},
        ...(policy?.classes ?? []).map((c) =>
          h("tr", {}, h("td", {}, h("span", { class: "badge" }, word(c.class))), h("td", {}, c.receptionStrategy ?? ""), h("td", {}, c.serviceLevel ?? ""), h("td", {}, String(c.followUpWithinHours ?? ""))),
        ),
      ),
    );
  });

  // Automations and campaigns, with each campaign's delivery counts.
  const automations = pagedTable<Automation>({
    test: "automations",
    columns: [
      { label: "name", cell: (a) => a.name ?? "" },
      { label: "trigger", cell: (a) => word(a.trigger?.kind) + (a.trigger?.tag ? ` · ${a.trigger.tag}` : "") },
      { label: "status", cell: (a) => (a.enabled ? t("enabled") : t("disabled")) },
    ],
    load: async (pageToken) => {
      const r = await api.call("NotificationService_ListAutomations", { query: { page_size: 10, page_token: pageToken } });
      return { items: r.automations ?? [], nextPageToken: r.nextPageToken };
    },
  });
  // A click on a campaign lists its messages, with their delivery status, below.
  const deliveries = deliveriesCard(api);
  const campaigns = pagedTable<Campaign>({
    test: "campaigns",
    onRow: (c) => {
      deliveries.showCampaign(c.campaignId ?? "", c.name ?? "");
      deliveries.el.scrollIntoView({ behavior: "smooth", block: "nearest" });
    },
    columns: [
      { label: "name", cell: (c) => c.name ?? "" },
      { label: "status", cell: (c) => word(c.state) + (c.failureReason ? ` (${c.failureReason})` : "") },
      {
        label: "delivery",
        cell: (c) => {
          const s = c.stats ?? {};
          return `${t("sent")} ${s.sent ?? 0} · ${t("delivered")} ${s.delivered ?? 0} · ${t("failed")} ${s.failed ?? 0} · ${t("responded")} ${s.responded ?? 0}`;
        },
      },
    ],
    load: async (pageToken) => {
      const r = await api.call("NotificationService_ListCampaigns", { query: { page_size: 10, page_token: pageToken } });
      return { items: r.campaigns ?? [], nextPageToken: r.nextPageToken };
    },
  });

  main.append(
    h(
      "div",
      { class: "grid" },
      h(
        "div",
        {},
        section(
        "ruleEditor",
        "hq",
        h("label", { class: "block" }, t("rule"), rule),
        ruleErrors,
        previewBox,
        h("div", { class: "form" }, h("label", {}, t("tagName"), tagName), h("label", {}, t("displayName"), displayName), h("button", { "data-test": "create-activate", onclick: createAndActivate }, t("createActivate"))),
        errors,
        activated,
        segment,
        ),
        policyCard,
        section("classes", "class-policy", classErrors, classes),
      ),
      h(
        "div",
        {},
        section("tags", "tag-catalog", tagErrors, tags.el),
        section(
          "segments",
          "segment-list",
          h("div", { class: "form" }, h("label", {}, t("segmentName"), segmentName), h("label", {}, t("expression"), expression), h("button", { "data-test": "segment-save", onclick: saveSegment }, t("saveSegment"))),
          segmentErrors,
          segments.el,
        ),
        section("automations", "automation-list", automations.el),
        section("campaigns", "campaign-list", campaigns.el),
        deliveries.el,
      ),
    ),
    h("h2", { class: "band" }, t("analysis")),
    h("div", { class: "grid", "data-test": "analysis" }, ...analysisCards(api)),
  );
  void tags.first();
  void segments.first();
  void automations.first();
  void campaigns.first();
  return () => {
    stopped = true;
  };
}
