// Sign-in. Through the chain's identity provider when the gateway names one (OpenID Connect
// with PKCE, ../oidc.ts). In development: pick a role, a store and a person of the demo
// chain, and the gateway mints their token (/console/dev-sign-in; the pickers are filled
// through an HQ development token). Always: paste a token.

import { MaitreClient } from "@maitre/client";
import { t } from "../i18n";
import { completeSignIn, startSignIn, type OidcSettings } from "../oidc";
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
  const ssoPart = h("div", { class: "sso" });
  main.append(section("signIn", "sign-in", ssoPart, devPart, errors, h("h3", {}, t("pasteToken")), token, useToken));

  // Which sign-ins this gateway offers; an identity provider's redirect back completes here.
  void attempt(errors, async () => {
    const config = (await (await fetch("/console/config.json")).json()) as { devSignIn: boolean; oidc: OidcSettings | null };
    if (config.oidc) {
      const oidc = config.oidc;
      const session = await completeSignIn(oidc);
      if (session) {
        save(session);
        done();
        return;
      }
      ssoPart.append(h("button", { "data-test": "sso-sign-in", onclick: () => void attempt(errors, () => startSignIn(oidc)) }, t("ssoSignIn")), h("p", { class: "muted" }, oidc.issuer));
    }
    if (config.devSignIn) await prepare();
    else devPart.remove();
    dev.setAttribute("data-ready", "true");
  });
}
