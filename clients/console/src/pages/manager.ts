// Customer manager (客户经理): my guests, the inbox and a live feed (SSE), the guest card
// with "why is this guest mine".

import type { Customer, FollowUpKind, FollowUpPlan, InboxItem, MaitreClient, Ownership, Prediction, StreamEvent } from "@maitre/client";
import { t, word } from "../i18n";
import type { Session } from "../session";
import { attempt, clear, debounce, h, pagedTable, section, when } from "../ui";
import { guestCard, guestName, live } from "./common";

export function managerPage(main: HTMLElement, api: MaitreClient, session: Session): () => void {
  const me = session.staff;
  const detail = h("div", { "data-test": "detail" });
  const show = async (customerId: string) => clear(detail, await guestCard(api, customerId, { why: true }), followUpForm(customerId));

  // Record a follow-up (call, WeChat, visit, note) on the guest shown.
  function followUpForm(customerId: string): HTMLElement {
    const kinds: FollowUpKind[] = ["FOLLOW_UP_KIND_CALL", "FOLLOW_UP_KIND_WECHAT", "FOLLOW_UP_KIND_VISIT", "FOLLOW_UP_KIND_NOTE"];
    const kind = h("select", { "data-test": "follow-up-kind" }, ...kinds.map((k) => h("option", { value: k }, word(k))));
    const content = h("input", { "data-test": "follow-up-content" });
    const result = h("div", { "data-test": "follow-up-result" });
    const save = async () => {
      const done = await attempt(result, () =>
        api.call("ProfileService_CreateFollowUpRecord", {
          path: { customer_id: customerId },
          body: {
            customerId,
            record: { customerId, managerId: me, kind: kind.value as Exclude<FollowUpKind, "FOLLOW_UP_KIND_UNSPECIFIED">, content: content.value, occurredAt: new Date().toISOString() },
            requestId: `console-follow-up-${crypto.randomUUID()}`,
          },
        }),
      );
      if (done) {
        clear(result, h("p", { class: "ok" }, `${t("saved")} ✓`));
        content.value = "";
        void plans.reload();
      }
    };
    return section(
      "recordFollowUp",
      "follow-up",
      h("div", { class: "form" }, h("label", {}, t("kind"), kind), h("label", {}, t("note"), content), h("button", { "data-test": "follow-up-save", onclick: save }, t("save"))),
      result,
    );
  }

  const plans = pagedTable<FollowUpPlan>({
    test: "follow-ups",
    columns: [
      { label: "name", cell: (p) => guestName(api, p.customerId ?? "") },
      { label: "subject", cell: (p) => p.title ?? word(p.kind) },
      { label: "dueAt", cell: (p) => h("span", { class: p.status === "FOLLOW_UP_PLAN_STATUS_OVERDUE" ? "overdue" : "" }, when(p.dueAt)) },
      { label: "status", cell: (p) => word(p.status) },
    ],
    load: async (pageToken) => {
      const r = await api.call("ProfileService_ListFollowUpPlans", {
        query: { manager_id: me, statuses: ["FOLLOW_UP_PLAN_STATUS_DUE", "FOLLOW_UP_PLAN_STATUS_OVERDUE", "FOLLOW_UP_PLAN_STATUS_OPEN"], page_size: 10, page_token: pageToken },
      });
      return { items: r.plans ?? [], nextPageToken: r.nextPageToken };
    },
    onRow: (p) => p.customerId && void show(p.customerId),
  });

  // Each row's guest and prediction, fetched once per page load.
  let summaries = new Map<string, Promise<{ customer?: Customer; prediction?: Prediction }>>();
  const summary = (id: string) => {
    if (!summaries.has(id)) {
      summaries.set(
        id,
        Promise.all([
          api.call("ProfileService_GetCustomer", { path: { customer_id: id } }).then((r) => r.customer).catch(() => undefined),
          api.call("TaggingService_GetCustomerPrediction", { path: { customer_id: id } }).then((r) => r.prediction).catch(() => undefined),
        ]).then(([customer, prediction]) => ({ customer, prediction })),
      );
    }
    return summaries.get(id)!;
  };

  const guests = pagedTable<Ownership>({
    test: "my-guests",
    columns: [
      { label: "name", cell: async (o) => (await summary(o.customerId ?? "")).customer?.profile?.name || o.customerId },
      { label: "klass", cell: async (o) => h("span", { class: "badge" }, word((await summary(o.customerId ?? "")).customer?.classification?.class)) },
      {
        label: "churnRisk",
        cell: async (o) => {
          const p = (await summary(o.customerId ?? "")).prediction;
          if (p?.pAlive === undefined) return "—";
          const risk = Math.round((1 - p.pAlive) * 100);
          return h("span", { class: p.pAlive < 0.3 ? "overdue" : "" }, `${risk}%`);
        },
      },
      { label: "nextOccasion", cell: async (o) => nextOccasion((await summary(o.customerId ?? "")).customer) },
      { label: "reason", cell: (o) => word(o.reason) },
      { label: "locked", cell: (o) => (o.locked ? t("locked") : "") },
    ],
    load: async (pageToken) => {
      summaries = new Map();
      const r = await api.call("AssignmentService_ListManagerCustomers", { path: { manager_id: me }, query: { page_size: 20, page_token: pageToken } });
      return { items: r.ownerships ?? [], nextPageToken: r.nextPageToken };
    },
    onRow: (o) => void show(o.customerId ?? ""),
  });

  const unread = h("span", { class: "badge", "data-test": "unread" });
  const inbox = pagedTable<InboxItem>({
    test: "inbox",
    columns: [
      { label: "subject", cell: (i) => h("span", { class: i.read ? "" : "unread" }, i.title ?? "") },
      { label: "note", cell: (i) => i.body ?? "" },
      { label: "since", cell: (i) => when(i.createTime) },
    ],
    load: async (pageToken) => {
      const r = await api.call("NotificationService_ListInbox", { query: { staff_id: me, page_size: 10, page_token: pageToken } });
      unread.textContent = t("unread", { n: Number(r.unread ?? 0) });
      return { items: r.items ?? [], nextPageToken: r.nextPageToken };
    },
    onRow: (i) => i.customerId && void show(i.customerId),
  });

  const feed = h("ul", { class: "feed", "data-test": "feed" });
  const badge = h("span", { class: "live" });
  // The stream starts at the head of the services' logs (`fromNow`); the time check keeps
  // events that were in flight while the page loaded out of the feed too.
  const opened = Date.now() - 5_000;
  const reloadGuests = debounce(() => void guests.reload());
  const reloadInbox = debounce(() => void inbox.reload());
  const reloadPlans = debounce(() => void plans.reload());
  const onEvent = async (event: StreamEvent) => {
    const e = event.data ?? {};
    if (e.ownerChanged) {
      const changed = e.ownerChanged;
      if (changed.toManagerId === me && Date.parse(e.occurredAt ?? "") >= opened) {
        const name = await guestName(api, changed.customerId ?? e.scope?.customerId ?? "");
        feed.prepend(h("li", { "data-test": "feed-item" }, `${when(e.occurredAt)} ${t("newGuestForYou", { name })}`));
      }
      reloadGuests();
    } else if (e.inboxItemCreated) {
      reloadInbox();
    } else if (e.followUpDue || e.followUpRecorded) {
      reloadPlans();
    } else if (e.contactRecorded && e.scope?.managerId === me) {
      reloadGuests();
    }
  };
  const subscription = live(api, badge, (e) => void onEvent(e));

  main.append(
    h(
      "div",
      { class: "grid" },
      h("div", {}, section("myGuests", "manager", guests.el), section("dueFollowUps", "due-follow-ups", plans.el)),
      h("div", {}, section("liveFeed", "live-feed", badge, feed), section("inbox", "inbox", unread, inbox.el), detail),
    ),
  );
  void guests.first();
  void inbox.first();
  void plans.first();
  return () => subscription.close();
}

/** The guest's next birthday or anniversary within a year, as "6月3日 生日 (12天后)". */
function nextOccasion(customer: Customer | undefined): string {
  const profile = customer?.profile;
  if (!profile) return "—";
  const today = new Date();
  today.setHours(0, 0, 0, 0);
  const dates: { label: string; month: number; day: number }[] = [];
  if (profile.birthday?.month && profile.birthday.day) dates.push({ label: t("birthday"), month: profile.birthday.month, day: profile.birthday.day });
  for (const a of profile.anniversaries ?? []) if (a.date?.month && a.date.day) dates.push({ label: a.label || t("anniversary"), month: a.date.month, day: a.date.day });
  const next = dates
    .map((d) => {
      let at = new Date(today.getFullYear(), d.month - 1, d.day);
      if (at < today) at = new Date(today.getFullYear() + 1, d.month - 1, d.day);
      return { ...d, days: Math.round((at.getTime() - today.getTime()) / 86_400_000) };
    })
    .sort((a, b) => a.days - b.days)[0];
  return next ? `${next.month}/${next.day} ${next.label} (${t("inDays", { n: next.days })})` : "—";
}
