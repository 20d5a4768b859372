// Delivery status of automations and campaigns (ListDeliveries): the messages in one status,
// dead letters (MESSAGE_STATUS_DEAD: out of retries) first, each with its attempts, the last
// reason in its history and the campaign or automation it came from; `showCampaign` narrows
// the list to one campaign's messages (a click on the campaign).

import type { Delivery, MaitreClient, MessageStatus } from "@maitre/client";
import { t, word } from "../i18n";
import { clear, h, pagedTable, section, when } from "../ui";

const STATUSES: MessageStatus[] = [
  "MESSAGE_STATUS_DEAD",
  "MESSAGE_STATUS_FAILED",
  "MESSAGE_STATUS_SUPPRESSED",
  "MESSAGE_STATUS_QUEUED",
  "MESSAGE_STATUS_SENT",
  "MESSAGE_STATUS_DELIVERED",
  "MESSAGE_STATUS_RESPONDED",
];

export function deliveriesCard(api: MaitreClient): { el: HTMLElement; showCampaign: (id: string, name: string) => void } {
  let campaign: string | undefined;
  const campaignFilter = h("span", { "data-test": "delivery-campaign" });
  const status = h("select", { "data-test": "delivery-status" }, h("option", { value: "" }, t("allStatuses")), ...STATUSES.map((s) => h("option", { value: s }, word(s))));
  status.value = "MESSAGE_STATUS_DEAD";
  const table = pagedTable<Delivery>({
    test: "deliveries",
    columns: [
      { label: "message", cell: (d) => h("span", { title: d.body ?? "" }, d.subject || (d.body ?? "").slice(0, 30) || d.messageId || "") },
      { label: "source", cell: (d) => (d.campaignId ? `${t("campaign")} ${d.campaignId.slice(0, 8)}` : d.automationId ? `${t("automation")} ${d.automationId.slice(0, 8)}` : "—") },
      { label: "channel", cell: (d) => word(d.channel) },
      { label: "status", cell: (d) => h("span", { class: d.status === "MESSAGE_STATUS_DEAD" || d.status === "MESSAGE_STATUS_FAILED" ? "overdue" : "", "data-test": "delivery-row-status", "data-status": d.status ?? "" }, word(d.status)) },
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
        query: { status: (status.value || undefined) as MessageStatus | undefined, campaign_id: campaign, page_size: 10, page_token: pageToken },
      });
      return { items: r.deliveries ?? [], nextPageToken: r.nextPageToken };
    },
  });
  status.addEventListener("change", () => void table.first());
  void table.first();
  function showCampaign(id: string, name: string) {
    campaign = id || undefined;
    status.value = "";
    clear(
      campaignFilter,
      campaign ? h("span", { class: "badge" }, `${t("campaign")}: ${name} `, h("button", { class: "small", "data-test": "delivery-campaign-clear", onclick: () => showCampaign("", "") }, "✕")) : null,
    );
    void table.first();
  }
  const el = section("deliveries", "deliveries-card", h("div", { class: "form inline" }, h("label", {}, t("status"), status), campaignFilter), table.el);
  return { el, showCampaign };
}
