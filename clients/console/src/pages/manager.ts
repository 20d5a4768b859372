// Customer manager (客户经理): my guests, the inbox and a live feed (SSE), the guest card
// with "why is this guest mine".

import type { InboxItem, MaitreClient, Ownership, StreamEvent } from "@maitre/client";
import { t, word } from "../i18n";
import type { Session } from "../session";
import { clear, h, pagedTable, section, when } from "../ui";
import { guestCard, guestName, live } from "./common";

export function managerPage(main: HTMLElement, api: MaitreClient, session: Session): () => void {
  const me = session.staff;
  const detail = h("div", { "data-test": "detail" });
  const show = async (customerId: string) => clear(detail, await guestCard(api, customerId, { why: true }));

  const guests = pagedTable<Ownership>({
    test: "my-guests",
    columns: [
      { label: "name", cell: (o) => guestName(api, o.customerId ?? "") },
      { label: "reason", cell: (o) => word(o.reason) },
      { label: "locked", cell: (o) => (o.locked ? "🔒" : "") },
      { label: "since", cell: (o) => when(o.since) },
    ],
    load: async (pageToken) => {
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
  const onEvent = async (event: StreamEvent) => {
    const e = event.data ?? {};
    if (e.ownerChanged) {
      const changed = e.ownerChanged;
      if (changed.toManagerId === me) {
        const name = await guestName(api, changed.customerId ?? e.scope?.customerId ?? "");
        feed.prepend(h("li", { "data-test": "feed-item" }, `${when(e.occurredAt)} ${t("newGuestForYou", { name })}`));
      }
      void guests.reload();
    } else if (e.inboxItemCreated) {
      void inbox.reload();
    } else if (e.contactRecorded && e.scope?.managerId === me) {
      void guests.reload();
    }
  };
  const subscription = live(api, badge, (e) => void onEvent(e));

  main.append(
    h(
      "div",
      { class: "grid" },
      section("myGuests", "manager", guests.el),
      h("div", {}, section("liveFeed", "live-feed", badge, feed), section("inbox", "inbox", unread, inbox.el), detail),
    ),
  );
  void guests.first();
  void inbox.first();
  return () => subscription.close();
}
