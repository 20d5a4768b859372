// Pieces several roles share: the guest card, manager names, the live stream.

import { subscribe, type MaitreClient, type StreamEvent, type Subscription } from "@maitre/client";
import { t, word } from "../i18n";
import { attempt, h, clear, when, yuan } from "../ui";

const managerNames = new Map<string, Promise<string>>();

/** A manager's name (cached), or their id when it cannot be read. */
export function managerName(api: MaitreClient, id: string | undefined): Promise<string> {
  if (!id) return Promise.resolve(t("noOwner"));
  if (!managerNames.has(id)) {
    managerNames.set(
      id,
      api
        .call("AssignmentService_GetManager", { path: { manager_id: id } })
        .then((r) => (r.manager?.name ? `${r.manager.name} (${id})` : id))
        .catch(() => id),
    );
  }
  return managerNames.get(id)!;
}

/** A guest's display name (cached per page). */
export async function guestName(api: MaitreClient, id: string): Promise<string> {
  try {
    const r = await api.call("ProfileService_GetCustomer", { path: { customer_id: id } });
    return r.customer?.profile?.name || id;
  } catch {
    return id;
  }
}

/** The guest card: contact (masked as the role requires), allergies, seat, class and its reception strategy, owner. */
export async function guestCard(api: MaitreClient, customerId: string, options: { why?: boolean } = {}): Promise<HTMLElement> {
  const card = h("div", { class: "guest-card", "data-test": "guest-card" });
  const errors = h("div");
  card.append(h("p", { class: "muted" }, t("loading")));
  const loaded = await attempt(errors, async () => {
    const [{ customer }, ownership] = await Promise.all([
      api.call("ProfileService_GetCustomer", { path: { customer_id: customerId } }),
      api.call("AssignmentService_GetOwnership", { path: { customer_id: customerId } }).catch(() => ({ ownership: undefined })),
    ]);
    return { customer, ownership: ownership.ownership };
  });
  if (!loaded) {
    clear(card, errors);
    return card;
  }
  const { customer, ownership } = loaded;
  const profile = customer?.profile ?? {};
  const phones = (customer?.identityKeys ?? []).filter((k) => k.kind?.includes("PHONE")).map((k) => k.value);
  const ownerId = ownership?.managerId || customer?.ownerManagerId;
  const rows: [string, string | Node][] = [
    [t("name"), profile.name || "—"],
    [t("phone"), phones.join(", ") || "—"],
    [t("allergies"), (profile.allergies ?? []).join("、") || t("none")],
    [t("seat"), profile.seatPreference || "—"],
    [t("klass"), h("span", { class: "badge", "data-test": "class" }, word(customer?.classification?.class))],
    [t("reception"), customer?.classification?.receptionStrategy || "—"],
    [t("owner"), h("span", { "data-test": "owner" }, await managerName(api, ownerId))],
  ];
  if (ownership?.locked) rows.push([t("locked"), `${yuan(ownership.countedSpendFen)}`]);
  clear(
    card,
    h("h3", {}, t("guestCard")),
    h("dl", {}, ...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
  );
  if (options.why) card.append(await whyMine(api, customerId));
  return card;
}

/** "Why is this guest mine": the ownership decisions, newest first, with their explanations. */
export async function whyMine(api: MaitreClient, customerId: string): Promise<HTMLElement> {
  const box = h("div", { class: "why", "data-test": "why" }, h("h4", {}, t("why")));
  const errors = h("div");
  const history = await attempt(errors, () =>
    api.call("AssignmentService_ListOwnershipHistory", { path: { customer_id: customerId }, query: { page_size: 10 } }),
  );
  box.append(errors);
  if (history) {
    const list = h("ol", {});
    for (const d of history.decisions ?? []) {
      list.append(
        h(
          "li",
          {},
          h("strong", {}, word(d.reason)),
          ` · ${when(d.decideTime)} · ${await managerName(api, d.fromManagerId || undefined)} → ${await managerName(api, d.toManagerId || undefined)}`,
          d.explanation ? h("div", { class: "muted" }, d.explanation) : null,
        ),
      );
    }
    box.append(list);
  }
  return box;
}

/** Subscribes to the live stream, showing its state in `badge`. */
export function live(api: MaitreClient, badge: HTMLElement, onEvent: (e: StreamEvent) => void): Subscription {
  badge.textContent = t("live");
  badge.dataset.test = "live";
  return subscribe(api, {
    // Pages load their lists first; the stream brings what changes after that.
    fromNow: true,
    onEvent,
    onStatus: (status) => {
      badge.className = `live ${status}`;
      badge.textContent = status === "open" ? `● ${t("live")}` : status === "retrying" ? t("liveOff") : `○ ${t("live")}`;
      badge.dataset.state = status;
    },
  });
}
