// Store manager (店长): the roster, the unassigned pool, and bulk transfer with live
// progress (the job's progress polled, and its TransferProgress events on the stream).

import type { Manager, MaitreClient, Ownership } from "@maitre/client";
import { t, word } from "../i18n";
import type { Session } from "../session";
import { attempt, clear, debounce, h, pagedTable, section, when, yuan } from "../ui";
import { guestName, live } from "./common";

export function storePage(main: HTMLElement, api: MaitreClient, session: Session): () => void {
  const store = session.stores[0] ?? "";
  let stopped = false;

  const rosterErrors = h("div");
  const roster = pagedTable<Manager>({
    test: "roster",
    columns: [
      { label: "name", cell: (m) => `${m.name ?? ""} (${m.managerId})` },
      {
        label: "status",
        cell: (m) => {
          const next = m.status === "MANAGER_STATUS_ON_DUTY" ? "MANAGER_STATUS_OFF_DUTY" : "MANAGER_STATUS_ON_DUTY";
          const toggle = h(
            "button",
            {
              class: "small",
              "data-test": `duty-${m.managerId}`,
              onclick: async () => {
                const done = await attempt(rosterErrors, () =>
                  api.call("AssignmentService_SetManagerStatus", {
                    path: { manager_id: m.managerId ?? "" },
                    body: { managerId: m.managerId, status: next, requestId: `console-status-${crypto.randomUUID()}` },
                  }),
                );
                if (done) void roster.reload();
              },
            },
            word(next),
          );
          return h("span", { "data-test": `status-${m.managerId}` }, word(m.status), " ", toggle);
        },
      },
      { label: "myGuests", cell: (m) => h("span", { "data-test": `owned-${m.managerId}` }, String(m.ownedCount ?? 0)) },
      { label: "capacity", cell: (m) => String(m.capacity ?? "") },
    ],
    load: async (pageToken) => {
      const r = await api.call("AssignmentService_ListManagers", { query: { store_id: store, page_size: 20, page_token: pageToken } });
      return { items: r.managers ?? [], nextPageToken: r.nextPageToken };
    },
  });

  const poolErrors = h("div");
  let managersHere: Manager[] = [];
  const pool = pagedTable<Ownership>({
    test: "unassigned",
    columns: [
      { label: "name", cell: (o) => guestName(api, o.customerId ?? "") },
      { label: "reason", cell: (o) => o.unassignedReason || word(o.reason) },
      { label: "since", cell: (o) => when(o.since) },
      {
        label: "assign",
        cell: (o) => {
          const to = h("select", { class: "small", "data-test": "assign-to" }, h("option", { value: "" }, "—"), ...managersHere.map((m) => h("option", { value: m.managerId ?? "" }, m.name ?? "")));
          to.addEventListener("change", async () => {
            if (!to.value) return;
            const done = await attempt(poolErrors, () =>
              api.call("AssignmentService_TransferCustomer", {
                path: { customer_id: o.customerId ?? "" },
                body: { customerId: o.customerId, toManagerId: to.value, note: "店长从待分配池分配", requestId: `console-assign-${crypto.randomUUID()}` },
              }),
            );
            if (done) {
              void pool.reload();
              void roster.reload();
            }
          });
          return to;
        },
      },
    ],
    load: async (pageToken) => {
      const r = await api.call("AssignmentService_ListUnassigned", { query: { store_id: store, page_size: 20, page_token: pageToken } });
      return { items: r.ownerships ?? [], nextPageToken: r.nextPageToken };
    },
  });

  // Team performance: one bar chart per measure, a bar per manager (GetManagerStats, 30 days).
  const performance = h("div", { class: "charts", "data-test": "performance" });
  async function loadPerformance() {
    const r = await api.call("AssignmentService_ListManagers", { query: { store_id: store, page_size: 100 } });
    const end = new Date();
    const start = new Date(end.getTime() - 30 * 86_400_000);
    const rows = await Promise.all(
      (r.managers ?? []).map(async (m) => {
        const s = await api
          .call("AssignmentService_GetManagerStats", { path: { manager_id: m.managerId ?? "" }, query: { period_start: start.toISOString(), period_end: end.toISOString() } })
          .catch(() => ({}) as Record<string, string>);
        return { name: m.name || m.managerId || "", stats: s as { followUpsDone?: string; revenueFen?: string; newInPeriod?: string } };
      }),
    );
    const chart = (title: "followUpsDone" | "revenue" | "newGuests", value: (s: (typeof rows)[number]["stats"]) => number, format: (n: number) => string) => {
      const max = Math.max(1, ...rows.map((row) => value(row.stats)));
      return h(
        "figure",
        { class: "bars" },
        h("figcaption", {}, t(title)),
        ...rows.map((row) =>
          h("div", { class: "bar-row" }, h("span", { class: "bar-label" }, row.name), h("span", { class: "bar" }, h("span", { style: `width:${(100 * value(row.stats)) / max}%` })), h("span", { class: "bar-value" }, format(value(row.stats)))),
        ),
      );
    };
    clear(
      performance,
      chart("followUpsDone", (s) => Number(s.followUpsDone ?? 0), String),
      chart("revenue", (s) => Number(s.revenueFen ?? 0), yuan),
      chart("newGuests", (s) => Number(s.newInPeriod ?? 0), String),
    );
  }
  const performanceErrors = h("div");
  void attempt(performanceErrors, loadPerformance);

  // Bulk transfer.
  const from = h("select", { "data-test": "from" });
  const to = h("select", { "data-test": "to", multiple: true, size: 5 });
  const errors = h("div");
  const bar = h("progress", { "data-test": "progress-bar", max: 1, value: 0 });
  const progressText = h("span", { "data-test": "progress" });
  const fill = async () => {
    const r = await api.call("AssignmentService_ListManagers", { query: { store_id: store, page_size: 100 } });
    managersHere = r.managers ?? [];
    for (const select of [from, to]) {
      clear(select, ...(r.managers ?? []).map((m) => h("option", { value: m.managerId ?? "" }, `${m.name} (${m.managerId}) · ${m.ownedCount ?? 0}`)));
    }
  };
  void fill().catch((e) => clear(errors, String(e.message)));

  function showProgress(p: { state?: string; done?: string; total?: string; failed?: string; error?: string } | undefined) {
    if (!p) return;
    // Polls and stream events interleave: never move back from an end state or to fewer done.
    const terminal = (state?: string) => state === "JOB_STATE_SUCCEEDED" || state === "JOB_STATE_FAILED" || state === "JOB_STATE_CANCELLED";
    if (terminal(progressText.dataset.state) && !terminal(p.state)) return;
    if (!terminal(p.state) && Number(p.done ?? 0) < Number(bar.value)) return;
    const done = Number(p.done ?? 0);
    const total = Number(p.total ?? 0);
    bar.max = Math.max(total, 1);
    bar.value = p.state === "JOB_STATE_SUCCEEDED" && total === 0 ? 1 : done;
    progressText.textContent = `${word(p.state)} ${done}/${total}${Number(p.failed ?? 0) ? ` (✗ ${p.failed})` : ""}${p.error ? ` ${p.error}` : ""}`;
    progressText.dataset.state = p.state ?? "";
  }

  async function start() {
    const targets = Array.from(to.selectedOptions).map((o) => o.value);
    const started = await attempt(errors, () =>
      api.call("AssignmentService_StartBulkTransfer", {
        path: { from_manager_id: from.value },
        body: { fromManagerId: from.value, toManagerIds: targets, requestId: `console-${crypto.randomUUID()}` },
      }),
    );
    const jobId = started?.progress?.jobId;
    if (!jobId) return;
    watching = jobId;
    progressText.dataset.state = "";
    bar.value = 0;
    showProgress(started.progress);
    // Poll until the job ends; each answer moves the bar.
    while (!stopped) {
      const r = await attempt(errors, () => api.call("AssignmentService_GetBulkTransfer", { path: { job_id: jobId } }));
      if (!r) break;
      showProgress(r.progress);
      const state = r.progress?.state;
      if (state === "JOB_STATE_SUCCEEDED" || state === "JOB_STATE_FAILED" || state === "JOB_STATE_CANCELLED") break;
      await new Promise((res) => setTimeout(res, 300));
    }
    void roster.reload();
    void fill();
    void attempt(performanceErrors, loadPerformance);
  }

  const badge = h("span", { class: "live" });
  const reloadPool = debounce(() => void pool.reload());
  let watching: string | undefined;
  const subscription = live(api, badge, (event) => {
    const e = event.data ?? {};
    // Only the job started here moves the bar (other managers may run jobs too).
    if (e.transferProgress && e.transferProgress.progress?.jobId === watching) showProgress(e.transferProgress.progress);
    if (e.ownerChanged) reloadPool();
  });

  main.append(
    h(
      "div",
      { class: "grid" },
      h("div", {}, section("roster", "store", rosterErrors, roster.el), section("unassigned", "unassigned-pool", poolErrors, pool.el)),
      section(
        "bulkTransfer",
        "bulk-transfer",
        badge,
        h("div", { class: "form" }, h("label", {}, t("from"), from), h("label", {}, t("to"), to), h("button", { "data-test": "start", onclick: start }, t("start"))),
        errors,
        h("div", { class: "progress" }, h("label", {}, t("progress")), bar, progressText),
      ),
      section("performance", "team-performance", performanceErrors, performance),
    ),
  );
  void roster.first();
  void pool.first();
  return () => {
    stopped = true;
    subscription.close();
  };
}
