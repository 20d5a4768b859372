// Delivery status of automations and campaigns (ListDeliveries): the messages in one status,
// dead letters (MESSAGE_STATUS_DEAD: out of retries) first, each with its attempts, the last
// reason in its history and the campaign or automation it came from.

import type { Delivery, MaitreClient, MessageStatus } from "@maitre/client";
import { t, word } from "../i18n";
import { h, pagedTable, section, when } from "../ui";

const STATUSES: MessageStatus[] = [
  "MESSAGE_STATUS_DEAD",
  "MESSAGE_STATUS_FAILED",
  "MESSAGE_STATUS_SUPPRESSED",
  "MESSAGE_STATUS_QUEUED",
  "MESSAGE_STATUS_SENT",
  "MESSAGE_STATUS_DELIVERED",
  "MESSAGE_STATUS_RESPONDED",
];

export function deliveriesCard(api: MaitreClient): HTMLElement {
  const status = h("select", { "data-test": "delivery-status" }, h("option", { value: "" }, t("allStatuses")), ...STATUSES.map((s) => h("option", { value: s }, word(s))));
  status.value = "MESSAGE_STATUS_DEAD";
  const table = pagedTable<Delivery>({
    test: "deliveries",
    columns: [
      { label: "message", cell: (d) => h("span", { title: d.body ?? "" }, d.subject || (d.body ?? "").slice(0, 30) || d.messageId || "") },
      { label: "source", cell: (d) => (d.campaignId ? `${t("campaign")} ${d.campaignId.slice(0, 8)}` : d.automationId ? `${t("automation")} ${d.automationId.slice(0, 8)}` : "—") },
      { label: "channel", cell: (d) => word(d.channel) },
      { label: "status", cell: (d) => h("span", { class: d.status === "MESSAGE_STATUS_DEAD" || d.status === "MESSAGE_STATUS_FAILED" ? "overdue" : "", "data-test": "delivery-row-status" }, word(d.status)) },
      { label: "attempts", cell: (d) => String(d.attempts ?? 0) },
      {
        label: "reason",
        cell: (d) => {
          const last = [...(d.history ?? [])].reverse().find((c) => c.reason);
          return last ? `${last.reason} (${when(last.changeTime)})` : "—";
        },
      },
    ],
    load: async (pageToken) => {
      const r = await api.call("NotificationService_ListDeliveries", {
        query: { status: (status.value || undefined) as MessageStatus | undefined, page_size: 10, page_token: pageToken },
      });
      return { items: r.deliveries ?? [], nextPageToken: r.nextPageToken };
    },
  });
  status.addEventListener("change", () => void table.first());
  void table.first();
  return section("deliveries", "deliveries-card", h("label", {}, t("status"), status), table.el);
}
