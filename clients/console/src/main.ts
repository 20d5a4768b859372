// The console: sign-in, then the page of the signed-in person's role. Chinese first; the
// language button re-renders the current page in English.

import "./style.css";
import { currentLang, setLang, t } from "./i18n";
import { clientFor, load, signOut, type Session } from "./session";
import { h, clear } from "./ui";
import { signInPage } from "./pages/signin";
import { frontDeskPage } from "./pages/frontdesk";
import { managerPage } from "./pages/manager";
import { storePage } from "./pages/store";
import { hqPage } from "./pages/hq";

const app = document.getElementById("app")!;
let stopPage: (() => void) | undefined;

export function render(): void {
  stopPage?.();
  stopPage = undefined;
  setLang(currentLang());
  document.title = t("title");
  const session = load();
  const header = h(
    "header",
    {},
    h("h1", {}, t("title")),
    session ? h("span", { class: "who", "data-test": "who" }, `${t(session.role)} · ${session.staff}`) : null,
    h("span", { class: "spacer" }),
    h("button", { class: "small", "data-test": "lang", onclick: () => (setLang(currentLang() === "zh" ? "en" : "zh"), render()) }, t("lang")),
    session ? h("button", { class: "small", "data-test": "sign-out", onclick: () => (signOut(), render()) }, t("signOut")) : null,
  );
  const main = h("main", {});
  clear(app, header, main);
  if (!session) {
    signInPage(main, () => render());
    return;
  }
  const api = clientFor(session, () => (signOut(), render()));
  const pages: Record<Session["role"], typeof hqPage> = {
    front_desk: frontDeskPage,
    customer_manager: managerPage,
    store_manager: storePage,
    hq_admin: hqPage,
  };
  stopPage = pages[session.role](main, api, session);
}

render();
