// HQ analysis as charts (seed 002 §4): tag-group comparison (CompareGroups), dish demand
// (GetDishDemand), new-dish acceptance (GetNewDishAcceptance) and the churn model report
// (GetModelReport: calibration; P(alive) over a page of guests from GetCustomerPrediction,
// since the API has no chain-wide P(alive) distribution).

import { MaitreError, type MaitreClient, type Prediction } from "@maitre/client";
import { barChart, histogram, lineChart } from "../charts";
import { t } from "../i18n";
import { attempt, clear, h, section, yuan } from "../ui";

const percent = (n: number) => `${Math.round(n * 1000) / 10}%`;

/** The four analysis cards; each loads on its own so one failure leaves the others. */
export function analysisCards(api: MaitreClient): HTMLElement[] {
  return [compareCard(api), demandCard(api), acceptanceCard(api), modelCard(api)];
}

function compareCard(api: MaitreClient): HTMLElement {
  // Groups: one segment expression per line; by default one per customer class.
  const groups = h("textarea", { "data-test": "compare-groups", rows: 3, spellcheck: false });
  const windowDays = h("input", { "data-test": "compare-window", type: "number", min: 1, value: 90 });
  const out = h("div", { "data-test": "compare-result" });
  async function compare() {
    const expressions = groups.value.split("\n").map((l) => l.trim()).filter(Boolean);
    const r = await attempt(out, () =>
      api.call("TaggingService_CompareGroups", { body: { groups: expressions.map((expression) => ({ expression })), windowDays: Number(windowDays.value) || 0 } }),
    );
    if (!r) return;
    const rows = (r.groups ?? []).map((g, i) => ({ label: g.group?.expression ?? expressions[i] ?? "", g }));
    const chart = (test: string, title: string, value: (g: (typeof rows)[number]["g"]) => number, format: (n: number) => string) =>
      barChart({ test, title, bars: rows.map((row) => ({ label: row.label, value: value(row.g) })), format });
    clear(
      out,
      h(
        "div",
        { class: "charts two" },
        chart("compare-size", t("groupSize"), (g) => Number(g.size ?? 0), String),
        chart("compare-visits", t("visitsPerMonth"), (g) => g.visitsPerMonth ?? 0, (n) => n.toFixed(2)),
        chart("compare-ticket", t("averageTicket"), (g) => Number(g.averageTicketFen ?? 0), yuan),
        chart("compare-spend", t("spendShare"), (g) => g.spendShare ?? 0, percent),
        chart("compare-response", t("responseRate"), (g) => g.responseRate ?? 0, percent),
      ),
    );
  }
  void api
    .call("ProfileService_GetClassificationPolicy", {})
    .then(({ policy }) => {
      if (!groups.value) groups.value = (policy?.classes ?? []).map((c) => `class == "${(c.class ?? "").replace("CUSTOMER_CLASS_", "")}"`).join("\n");
      if (groups.value) void compare();
    })
    .catch(() => {});
  return section(
    "compareGroups",
    "compare",
    h("label", { class: "block" }, t("groupsHint"), groups),
    h("div", { class: "form" }, h("label", {}, t("windowDays"), windowDays), h("button", { "data-test": "compare-run", onclick: compare }, t("compare"))),
    out,
  );
}

function demandCard(api: MaitreClient): HTMLElement {
  const horizon = h("input", { "data-test": "demand-horizon", type: "number", min: 1, value: 7 });
  const out = h("div", { "data-test": "demand-result" });
  async function load() {
    const r = await attempt(out, () => api.call("TaggingService_GetDishDemand", { query: { horizon_days: Number(horizon.value) || undefined } }));
    if (!r) return;
    const byCovers = (a: { expectedCovers?: number; customers?: string }, b: typeof a) =>
      (b.expectedCovers ?? 0) - (a.expectedCovers ?? 0) || Number(b.customers ?? 0) - Number(a.customers ?? 0);
    const covers = (d: { expectedCovers?: number; customers?: string }) => ({
      value: d.expectedCovers ?? 0,
      note: t("preferredBy", { n: Number(d.customers ?? 0) }),
    });
    clear(
      out,
      barChart({
        test: "demand-categories",
        title: t("demandByCategory", { n: Number(horizon.value) || 7 }),
        bars: [...(r.categories ?? [])].sort(byCovers).map((d) => ({ label: d.name || d.category || "—", ...covers(d) })),
        format: (n) => n.toFixed(1),
        empty: t("noOrderLines"),
      }),
      barChart({
        test: "demand-dishes",
        title: t("demandByDish"),
        bars: [...(r.dishes ?? [])].sort(byCovers).slice(0, 12).map((d) => ({ label: d.name || d.dishId || "—", ...covers(d) })),
        format: (n) => n.toFixed(1),
        empty: t("noOrderLines"),
      }),
    );
  }
  void load();
  return section("dishDemand", "dish-demand", h("div", { class: "form" }, h("label", {}, t("horizonDays"), horizon), h("button", { "data-test": "demand-run", onclick: load }, t("refresh"))), out);
}

function acceptanceCard(api: MaitreClient): HTMLElement {
  const windowDays = h("input", { "data-test": "acceptance-window", type: "number", min: 1, value: 30 });
  const out = h("div", { "data-test": "acceptance-result" });
  async function load() {
    const r = await attempt(out, () => api.call("TaggingService_GetNewDishAcceptance", { query: { window_days: Number(windowDays.value) || undefined } }));
    if (!r) return;
    clear(
      out,
      barChart({
        test: "acceptance",
        title: t("acceptanceTitle"),
        bars: [...(r.dishes ?? [])]
          .sort((a, b) => (b.acceptance ?? 0) - (a.acceptance ?? 0))
          .map((d) => ({ label: d.name || d.dishId || "—", value: d.acceptance ?? 0, note: t("triedOf", { tried: Number(d.tried ?? 0), visited: Number(d.visited ?? 0) }) })),
        format: percent,
        max: 1,
        empty: t("noNewDishes"),
      }),
    );
  }
  void load();
  return section("newDishAcceptance", "new-dish-acceptance", h("div", { class: "form" }, h("label", {}, t("windowDays"), windowDays), h("button", { "data-test": "acceptance-run", onclick: load }, t("refresh"))), out);
}

const GUEST_PAGE = 100;
const BINS = 10;

function modelCard(api: MaitreClient): HTMLElement {
  const report = h("div", { "data-test": "model-report" });
  const alive = h("div", { "data-test": "p-alive" });
  async function load() {
    // NOT_FOUND means no fit yet: said in words, not as an error.
    const r = await attempt(report, () =>
      api.call("TaggingService_GetModelReport", {}).catch((e) => {
        if (e instanceof MaitreError && e.code === "NOT_FOUND") return undefined;
        throw e;
      }),
    );
    const threshold = r?.report?.settings?.churnThreshold ?? 0.3;
    if (r?.report) {
      const m = r.report;
      const rows = [...(m.calibration ?? [])].sort((a, b) => Number(a.calibrationVisits ?? 0) - Number(b.calibrationVisits ?? 0));
      clear(
        report,
        h(
          "p",
          { class: "muted", "data-test": "model-fit", "data-fitted": String(Boolean(m.fitTime)) },
          m.fitTime ? t("modelFit", { when: new Date(m.fitTime).toLocaleString(), n: Number(m.customers ?? 0) }) : t("modelNotFit"),
        ),
        m.note ? h("p", { class: m.lastFitConverged === false ? "error" : "muted small", "data-test": "model-note" }, m.note) : null,
        lineChart({
          test: "calibration",
          title: t("calibrationTitle"),
          xLabel: t("calibrationVisits"),
          x: rows.map((row) => String(Number(row.calibrationVisits ?? 0))),
          series: [
            { name: t("predicted"), values: rows.map((row) => row.predictedHoldoutVisits ?? 0) },
            { name: t("actual"), values: rows.map((row) => row.actualHoldoutVisits ?? 0) },
          ],
        }),
        h("p", { class: "muted small" }, `BG/NBD r=${fmt(m.r)} α=${fmt(m.alpha)} a=${fmt(m.a)} b=${fmt(m.b)} · Gamma-Gamma p=${fmt(m.ggP)} q=${fmt(m.ggQ)} γ=${fmt(m.ggGamma)}`),
      );
    } else if (r === undefined && !report.querySelector('[data-test="error"]')) {
      clear(report, h("p", { class: "muted", "data-test": "model-fit", "data-fitted": "false" }, t("modelNotFit")));
    }
    // P(alive) over the first page of guests (the API has no chain-wide distribution).
    const page = await attempt(alive, () => api.call("ProfileService_ListCustomers", { query: { page_size: GUEST_PAGE } }));
    if (!page) return;
    const predictions = await Promise.all(
      (page.customers ?? []).map((c) =>
        api
          .call("TaggingService_GetCustomerPrediction", { path: { customer_id: c.customerId ?? "" } })
          .then((p): Prediction | undefined => p.prediction)
          .catch((e) => {
            if (e instanceof MaitreError && e.code === "FAILED_PRECONDITION") return undefined; // not scored yet
            throw e;
          }),
      ),
    ).catch((e) => {
      clear(alive, String(e.message));
      return undefined;
    });
    if (!predictions) return;
    const values = predictions.flatMap((p) => (p?.pAlive === undefined ? [] : [p.pAlive]));
    const counts = histogram(values, BINS);
    const below = values.filter((v) => v < threshold).length;
    clear(
      alive,
      barChart({
        test: "p-alive-histogram",
        title: t("pAliveTitle", { n: values.length, of: (page.customers ?? []).length }),
        bars: values.length === 0 ? [] : counts.map((count, i) => ({ label: `${(i / BINS).toFixed(1)}–${((i + 1) / BINS).toFixed(1)}`, value: count, warn: (i + 1) / BINS <= threshold })),
        format: String,
        empty: t("noPredictions"),
      }),
      values.length ? h("p", { "data-test": "churn-below", "data-count": below }, t("churnBelow", { n: below, threshold })) : null,
    );
  }
  void load();
  return section("modelReport", "model", report, alive);
}

function fmt(n: number | undefined): string {
  return n === undefined ? "—" : Number(n.toPrecision(3)).toString();
}
