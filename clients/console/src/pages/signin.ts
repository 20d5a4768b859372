// Sign-in. In development: pick a role, a store and a person of the demo chain, and the
// gateway mints their token (/console/dev-sign-in; the pickers are filled through an HQ
// development token). In any environment: paste a token from the chain's identity provider.

import { MaitreClient } from "@maitre/client";
import { t } from "../i18n";
import { devSignIn, identityOf, save, type Identity } from "../session";
import { attempt, clear, h, section } from "../ui";

export function signInPage(main: HTMLElement, done: () => void): void {
  const roles: Identity["role"][] = ["front_desk", "customer_manager", "store_manager", "hq_admin"];
  const role = h("select", { "data-test": "role" }, ...roles.map((r) => h("option", { value: r }, t(r))));
  const store = h("select", { "data-test": "store" });
  const staff = h("select", { "data-test": "staff" });
  const errors = h("div");
  const dev = h("div", { class: "form" });
  let hq: MaitreClient | undefined;

  async function fillStaff() {
    clear(staff);
    if (!hq) return;
    if (role.value === "customer_manager") {
      const r = await hq.call("AssignmentService_ListManagers", { query: { store_id: store.value, page_size: 100 } });
      for (const m of r.managers ?? []) staff.append(h("option", { value: m.managerId ?? "" }, `${m.name} (${m.managerId})`));
    } else {
      const id = { front_desk: "desk", store_manager: "store-manager", hq_admin: "admin", customer_manager: "" }[role.value] ?? "";
      staff.append(h("option", { value: id }, id));
    }
    store.disabled = role.value === "hq_admin";
  }

  async function prepare() {
    const admin = await devSignIn({ role: "hq_admin", staff: "admin", stores: [] });
    hq = new MaitreClient({ token: admin.token });
    const r = await hq.call("ProfileService_ListStores", { query: { page_size: 100 } });
    for (const s of r.stores ?? []) store.append(h("option", { value: s.storeId ?? "" }, `${s.name} (${s.code || s.storeId})`));
    await fillStaff();
  }

  role.addEventListener("change", () => void attempt(errors, fillStaff));
  store.addEventListener("change", () => void attempt(errors, fillStaff));
  const go = h(
    "button",
    {
      "data-test": "dev-sign-in",
      onclick: async () => {
        const chainWide = role.value === "hq_admin";
        const session = await attempt(errors, () =>
          devSignIn({ role: role.value as Identity["role"], staff: staff.value, stores: chainWide ? [] : [store.value].filter(Boolean) }),
        );
        if (session) {
          save(session);
          done();
        }
      },
    },
    t("signIn"),
  );
  dev.append(h("label", {}, t("role"), role), h("label", {}, t("store"), store), h("label", {}, t("staff"), staff), go);

  const token = h("textarea", { "data-test": "token", rows: 3 });
  const useToken = h(
    "button",
    {
      class: "secondary",
      onclick: async () => {
        const text = token.value.trim();
        const session = await attempt(errors, async () => ({ ...identityOf(text), token: text, dev: false }));
        if (session) {
          save(session);
          done();
        }
      },
    },
    t("useToken"),
  );
  const devPart = h("div", {}, h("p", { class: "muted" }, t("devSignInHint")), dev);
  main.append(section("signIn", "sign-in", devPart, errors, h("h3", {}, t("pasteToken")), token, useToken));
  void prepare().catch((e) => {
    // No development sign-in (production): only the token path remains.
    if ((e as { status?: number }).status === 404) devPart.remove();
    else clear(errors, String((e as Error).message));
  }).then(() => dev.setAttribute("data-ready", "true"));
}
