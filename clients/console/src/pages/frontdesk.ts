// Front desk (前台): find a guest by phone, see the guest card, record a booking or a visit.

import type { MaitreClient } from "@maitre/client";
import { t } from "../i18n";
import type { Session } from "../session";
import { attempt, clear, h, section } from "../ui";
import { guestCard } from "./common";

export function frontDeskPage(main: HTMLElement, api: MaitreClient, session: Session): () => void {
  const store = session.stores[0] ?? "";
  const phone = h("input", { "data-test": "phone", type: "tel", placeholder: "138…" });
  const found = h("div", { "data-test": "found" });
  const findErrors = h("div");
  let customerId: string | undefined;

  async function find() {
    customerId = undefined;
    clear(found);
    const result = await attempt(findErrors, async () => {
      try {
        return await api.call("ProfileService_LookupCustomer", {
          body: { identityKey: { kind: "IDENTITY_KIND_PHONE", value: phone.value.trim() } },
        });
      } catch (e) {
        if ((e as { code?: string }).code === "NOT_FOUND") return { customer: undefined };
        throw e;
      }
    });
    if (!result) return;
    if (!result.customer?.customerId) {
      clear(found, h("p", { class: "muted", "data-test": "not-found" }, t("notFound")));
      return;
    }
    customerId = result.customer.customerId;
    clear(found, await guestCard(api, customerId));
  }

  // The booking/visit form.
  const kind = h("select", { "data-test": "kind" }, h("option", { value: "CONTACT_KIND_BOOKING" }, t("booking")), h("option", { value: "CONTACT_KIND_VISIT" }, t("visit")));
  const manager = h("select", { "data-test": "manager" }, h("option", { value: "" }, "—"));
  const name = h("input", { "data-test": "guest-name" });
  const party = h("input", { "data-test": "party", type: "number", min: 1, value: 2 });
  const bookedFor = h("input", { "data-test": "booked-for", type: "datetime-local" });
  const amount = h("input", { "data-test": "amount", type: "number", min: 0, step: "0.01" });
  const note = h("input", { "data-test": "note" });
  const recordErrors = h("div");
  const recorded = h("div", { "data-test": "recorded" });
  const later = new Date(Date.now() + 3 * 3600_000);
  bookedFor.value = new Date(later.getTime() - later.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);

  void api
    .call("AssignmentService_ListManagers", { query: { store_id: store, page_size: 100 } })
    .then((r) => {
      for (const m of r.managers ?? []) manager.append(h("option", { value: m.managerId ?? "" }, `${m.name} (${m.managerId})`));
    })
    .catch((e) => clear(recordErrors, String(e.message)));

  async function record() {
    clear(recorded);
    const isVisit = kind.value === "CONTACT_KIND_VISIT";
    const event = {
      channel: "EVENT_CHANNEL_FRONT_DESK" as const,
      externalId: `console-${crypto.randomUUID()}`,
      kind: kind.value as "CONTACT_KIND_BOOKING" | "CONTACT_KIND_VISIT",
      storeId: store,
      managerId: manager.value || undefined,
      occurredAt: new Date().toISOString(),
      partySize: Number(party.value) || undefined,
      note: note.value || undefined,
      ...(isVisit
        ? { amount: { amountFen: String(Math.round(Number(amount.value || 0) * 100)) } }
        : { bookedFor: bookedFor.value ? new Date(bookedFor.value).toISOString() : undefined }),
    };
    const result = await attempt(recordErrors, async () => {
      // A guest not found by phone is created first (with their name) by the same call the
      // mini-program uses; the front desk may create guests but not edit profiles.
      let id = customerId;
      if (!id) {
        const created = await api.call("ProfileService_UpsertCustomer", {
          body: {
            identityKeys: [{ kind: "IDENTITY_KIND_PHONE", value: phone.value.trim() }],
            storeId: store,
            profile: name.value.trim() ? { name: name.value.trim() } : undefined,
            requestId: `console-guest-${crypto.randomUUID()}`,
          },
        });
        id = created.customer?.customerId;
      }
      const r = await api.call("ProfileService_RecordEvent", { body: { event: { ...event, customerId: id, identityKeys: undefined } } });
      return r.customer?.customerId || r.event?.customerId || id;
    });
    if (result) {
      clear(recorded, h("p", { class: "ok" }, `${t("saved")} ✓`));
      customerId = result;
      clear(found, await guestCard(api, result));
    }
  }

  main.append(
    h(
      "div",
      { class: "grid" },
      section(
        "findGuest",
        "front-desk",
        h("div", { class: "form inline" }, h("label", {}, t("phone"), phone), h("button", { "data-test": "find", onclick: find }, t("find"))),
        findErrors,
        found,
      ),
      section(
        "record",
        "record",
        h(
          "div",
          { class: "form" },
          h("label", {}, t("kind"), kind),
          h("label", {}, t("name"), name),
          h("label", {}, t("manager"), manager),
          h("label", {}, t("partySize"), party),
          h("label", {}, t("bookedFor"), bookedFor),
          h("label", {}, t("amount"), amount),
          h("label", {}, t("note"), note),
          h("button", { "data-test": "save", onclick: record }, t("save")),
        ),
        recordErrors,
        recorded,
      ),
    ),
  );
  phone.addEventListener("keydown", (e) => e.key === "Enter" && void find());
  // A different phone is a different guest until found.
  phone.addEventListener("input", () => (customerId = undefined));
  return () => {};
}
