// The console in a real browser (headless Chromium driven by playwright-core with the
// system's browser): one journey per role against the whole system started on free ports.
// Screenshots of each role's main page go to clients/console/artifacts/ (and, with
// MAITRE_UPDATE_SCREENSHOTS=1, to docs/screenshots/ for the README).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, copyFile, access, readFile } from "node:fs/promises";
import { createServer } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { MaitreClient, paginate } from "@maitre/client";
import { startSystem, devToken } from "../../testing/system.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const consoleDir = path.resolve(here, "..");
const dist = path.join(consoleDir, "dist");
const artifacts = path.join(consoleDir, "artifacts");
const docs = path.resolve(consoleDir, "..", "..", "docs", "screenshots");
const chromiumPath = process.env.MAITRE_CHROMIUM || "/usr/bin/chromium";

let system, browser, hq, store, provider, phoneSeq = 0;

// The guests' message provider (MAITRE_NOTIFICATION_WEBHOOK_URL): accepts every message
// except those to `refusing`, which it answers 503 (so they end as dead letters).
const refusing = new Set();

const phone = () => `139${String(Date.now()).slice(-6)}${String(phoneSeq++).padStart(2, "0")}`;

before(async () => {
  await access(path.join(dist, "index.html")).catch(() => {
    throw new Error(`${dist}/index.html missing: run \`npm run build\` in clients/ first`);
  });
  await access(chromiumPath).catch(() => {
    throw new Error(`${chromiumPath} missing: install Debian's chromium (.ci/run does) or set MAITRE_CHROMIUM`);
  });
  await mkdir(artifacts, { recursive: true });
  provider = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const message = JSON.parse(body || "{}");
      res.writeHead(refusing.has(message.customer_id) ? 503 : 200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: `provider-${message.message_id}` }));
    });
  });
  await new Promise((resolve) => provider.listen(0, "127.0.0.1", resolve));
  system = await startSystem({
    MAITRE_CONSOLE_DIR: dist,
    MAITRE_NOTIFICATION_WEBHOOK_URL: `http://127.0.0.1:${provider.address().port}/messages`,
    MAITRE_NOTIFICATION_WEBHOOK_SECRET: "console-test-secret",
  });
  hq = new MaitreClient({ baseUrl: system.url, token: await devToken(system.url, "hq_admin", { staff: "admin" }) });
  const created = await hq.call("ProfileService_CreateStore", {
    body: { store: { name: "海港酒家 1号店", code: "S1", timeZone: "Asia/Shanghai" }, requestId: "console-store-1" },
  });
  store = created.store.storeId;
  for (const [id, name] of [["m01", "王经理"], ["m02", "张经理"], ["m03", "李经理"]]) {
    await hq.call("AssignmentService_UpsertManager", {
      path: { manager_id: id },
      body: { manager: { managerId: id, name, storeIds: [store], capacity: "500", status: "MANAGER_STATUS_ON_DUTY" }, requestId: `console-manager-${id}` },
    });
  }
  // launch() gives Chromium a fresh temporary profile of its own, removed on close.
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  await system?.stop();
  provider?.close();
});

const open = new Set();

/** Runs a journey; on failure every open page is saved as failure-<journey>-<n>.png. */
function journey(name, body) {
  test(name, async () => {
    try {
      await body();
    } catch (error) {
      let n = 0;
      for (const page of open) await page.screenshot({ path: path.join(artifacts, `failure-${name.slice(0, 24).replace(/\W+/g, "-")}-${n++}.png`), fullPage: true }).catch(() => {});
      throw error;
    } finally {
      for (const page of open) await page.context().close().catch(() => {});
      open.clear();
    }
  });
}

/** A fresh browser context signed in as `role` through the console's own sign-in page. */
async function signIn(role, staff) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: "zh-CN" });
  const page = await context.newPage();
  open.add(page);
  page.setDefaultTimeout(20_000);
  await page.goto(`${system.url}/console/`);
  await page.waitForSelector('[data-test="sign-in"] .form[data-ready="true"]');
  await page.selectOption('[data-test="role"]', role);
  if (role !== "hq_admin") await page.selectOption('[data-test="store"]', store);
  if (staff) await page.selectOption('[data-test="staff"]', staff);
  await page.click('[data-test="dev-sign-in"]');
  await page.waitForSelector('[data-test="who"]');
  return page;
}

/** The whole page, or only `part` (a selector) of it. */
async function screenshot(page, name, part) {
  const file = path.join(artifacts, `${name}.png`);
  if (part) await page.locator(part).screenshot({ path: file });
  else await page.screenshot({ path: file, fullPage: true });
  if (process.env.MAITRE_UPDATE_SCREENSHOTS === "1") {
    await mkdir(docs, { recursive: true });
    await copyFile(file, path.join(docs, `${name}.png`));
  }
}

const NAMES = ["李建国", "王芳", "张伟", "刘洋", "陈静", "杨磊", "赵敏", "黄婷", "周杰", "吴霞"];

/** A named guest and one contact of theirs, through the API (seeding the other journeys). */
async function contact(kind, number, manager, amountFen, { named = true } = {}) {
  if (named) await hq.call("ProfileService_UpsertCustomer", {
    body: { identityKeys: [{ kind: "IDENTITY_KIND_PHONE", value: number }], storeId: store, profile: { name: NAMES[phoneSeq % NAMES.length] } },
  });
  const r = await hq.call("ProfileService_RecordEvent", {
    body: {
      event: {
        channel: "EVENT_CHANNEL_POS",
        externalId: `seed-${number}-${kind}-${Math.random()}`,
        kind,
        identityKeys: [{ kind: "IDENTITY_KIND_PHONE", value: number }],
        storeId: store,
        managerId: manager,
        occurredAt: new Date().toISOString(),
        partySize: 2,
        ...(amountFen ? { amount: { amountFen: String(amountFen) } } : {}),
      },
    },
  });
  return r.customer.customerId;
}

journey("front desk records a booking and the owner's console shows the guest live", async () => {
  // A regular of m01's with a birthday soon, for the "next occasion" column.
  const soon = new Date(Date.now() + 5 * 86_400_000);
  await hq.call("ProfileService_UpsertCustomer", {
    body: {
      identityKeys: [{ kind: "IDENTITY_KIND_PHONE", value: "13600136000" }],
      storeId: store,
      profile: { name: "林晓燕", birthday: { month: soon.getMonth() + 1, day: soon.getDate() }, allergies: ["花生"], seatPreference: "靠窗" },
    },
  });
  await contact("CONTACT_KIND_VISIT", "13600136000", "m01", 56_800, { named: false });
  const manager = await signIn("customer_manager", "m01");
  await manager.waitForSelector('[data-test="my-guests-row"]:has-text("林晓燕"):has-text("5")');
  await manager.waitForSelector('[data-test="live"][data-state="open"]');
  const desk = await signIn("front_desk");

  const number = phone();
  await desk.fill('[data-test="phone"]', number);
  await desk.click('[data-test="find"]');
  await desk.waitForSelector('[data-test="not-found"]');
  await desk.fill('[data-test="guest-name"]', "陈美玲");
  await desk.selectOption('[data-test="kind"]', "CONTACT_KIND_BOOKING");
  await desk.selectOption('[data-test="manager"]', "m01");
  // A mistake is refused in words, naming the field, and nothing is recorded.
  await desk.fill('[data-test="party"]', "0");
  await desk.click('[data-test="save"]');
  await desk.waitForSelector('[data-test="record"] [data-test="error"][data-field="event.party_size"]');
  await desk.fill('[data-test="party"]', "4");
  await desk.click('[data-test="save"]');
  await desk.waitForSelector('[data-test="recorded"] .ok');
  await desk.waitForSelector('[data-test="guest-card"] [data-test="owner"]:has-text("m01")');
  // The guest comes in: a visit with spend for the same guest.
  await desk.selectOption('[data-test="kind"]', "CONTACT_KIND_VISIT");
  await desk.fill('[data-test="amount"]', "688");
  await desk.click('[data-test="save"]');
  await desk.waitForSelector('[data-test="recorded"] .ok');
  await screenshot(desk, "front-desk");

  // The owner's page was open all along: the guest arrives through the live stream.
  await manager.waitForSelector('[data-test="feed-item"]:has-text("陈美玲")');
  await manager.waitForSelector('[data-test="my-guests-row"]:has-text("陈美玲")');
  await manager.click('[data-test="my-guests-row"]:has-text("陈美玲")');
  await manager.waitForSelector('[data-test="why"] li');
  await manager.selectOption('[data-test="follow-up-kind"]', "FOLLOW_UP_KIND_CALL");
  await manager.fill('[data-test="follow-up-content"]', "电话确认预订，客人偏好靠窗座位");
  await manager.click('[data-test="follow-up-save"]');
  await manager.waitForSelector('[data-test="follow-up-result"] .ok');
  await screenshot(manager, "customer-manager");
});

journey("HQ writes a rule, previews it, activates it and sees the segment count", async () => {
  // Three guests with a visit, one with a booking only.
  for (let i = 0; i < 3; i++) await contact("CONTACT_KIND_VISIT", phone(), "m01", 28_800);
  await contact("CONTACT_KIND_BOOKING", phone(), "m01");
  const expected = await hq.call("TaggingService_PreviewRule", { body: { rule: "visits(30d) >= 1" } });
  assert.ok(Number(expected.memberCount) >= 3, `preview through the API counts the visitors: ${JSON.stringify(expected)}`);

  const page = await signIn("hq_admin");
  // A rule with a mistake first: the error is shown at its position.
  await page.fill('[data-test="rule"]', "visits(30d) >=");
  await page.waitForSelector('[data-test="rule-error"]');
  await page.fill('[data-test="rule"]', "visits(30d) >= 1");
  const count = await page.waitForSelector('[data-test="preview-count"]');
  assert.equal(await count.getAttribute("data-count"), String(Number(expected.memberCount)));
  await page.fill('[data-test="tag-name"]', "recent_visitor");
  await page.fill('[data-test="display-name"]', "近30天到店");
  await page.click('[data-test="create-activate"]');
  await page.waitForSelector('[data-test="activated"] .ok');
  await page.waitForSelector(`[data-test="segment-count"][data-settled="true"][data-count="${Number(expected.memberCount)}"]`, { timeout: 30_000 });
  await page.waitForSelector('[data-test="tags-row"]:has-text("recent_visitor")');
  // Saved as a segment (name and expression prefilled from the tag), listed with its count.
  await page.click('[data-test="segment-save"]');
  await page.waitForSelector(`[data-test="segments-row"]:has-text("recent_visitor") [data-test="segment-row-count"]:text-is("${Number(expected.memberCount)}")`);
  // The allocation policy: a negative expiry is refused naming the field; a valid one saves.
  await page.fill('[data-test="policy-expiry"]', "-3");
  await page.click('[data-test="policy-save"]');
  await page.waitForSelector('[data-test="policy-result"] [data-test="error"][data-field="policy.lock_expiry_days"]');
  await page.fill('[data-test="policy-expiry"]', "365");
  await page.click('[data-test="policy-save"]');
  await page.waitForSelector('[data-test="policy-result"] .ok');
  await screenshot(page, "hq");
  // The tag's lifecycle moves on from the catalog.
  await page.selectOption('[data-test="lifecycle-recent_visitor"]', "TAG_LIFECYCLE_DEPRECATED");
  // The console calls TransitionTag on change; the API shows it (until a deadline).
  let lifecycle;
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    lifecycle = (await hq.call("TaggingService_ListTags", { query: { page_size: 10 } })).tags.find((t) => t.name === "recent_visitor").lifecycle;
    if (lifecycle === "TAG_LIFECYCLE_DEPRECATED") break;
  }
  assert.equal(lifecycle, "TAG_LIFECYCLE_DEPRECATED");
  assert.equal(await page.locator('[data-test="tag-catalog"] [data-test="error"]').count(), 0);
});

journey("a store manager runs a bulk transfer and watches it finish", async () => {
  for (let i = 0; i < 6; i++) await contact("CONTACT_KIND_BOOKING", phone(), "m02");
  let owned = 0;
  for await (const _ of paginate(hq, "AssignmentService_ListManagerCustomers", { path: { manager_id: "m02" } }, { pageSize: 2 })) owned++;
  assert.equal(owned, 6, "m02 owns the six guests booked with them");

  const page = await signIn("store_manager");
  await page.waitForSelector('[data-test="roster-row"]:has-text("m02")');
  await page.selectOption('[data-test="from"]', "m02");
  await page.selectOption('[data-test="to"]', ["m01", "m03"]);
  await page.click('[data-test="start"]');
  await page.waitForSelector('[data-test="progress"][data-state="JOB_STATE_SUCCEEDED"]', { timeout: 30_000 });
  assert.match(await page.textContent('[data-test="progress"]'), /6\/6/);
  await page.waitForSelector('[data-test="owned-m02"]:has-text("0")');
  await page.waitForSelector('[data-test="performance"] .bar-row:has-text("张经理")');
  // Duty: m03 goes off duty and back.
  await page.click('[data-test="duty-m03"]');
  await page.waitForSelector('[data-test="status-m03"]:has-text("休息")');
  await page.click('[data-test="duty-m03"]');
  await page.waitForSelector('[data-test="status-m03"]:has-text("在岗")');
  await screenshot(page, "store-manager");
  // English on request, the same page.
  await page.click('[data-test="lang"]');
  await page.waitForSelector('h2:has-text("Bulk transfer")');
  await page.click('[data-test="lang"]');
  await page.waitForSelector('h2:has-text("批量转移")');
});

/** Polls `read` until `done(value)` (or throws after `ms`); returns the last value. */
async function until(read, done, ms = 20_000) {
  let value;
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    value = await read();
    if (done(value)) return value;
  }
  throw new Error(`not reached within ${ms} ms: ${JSON.stringify(value)?.slice(0, 500)}`);
}

/** Reads what a chart drew: label → value of every bar (or point) in it. */
async function drawn(page, chart, mark = "bar", key = "data-label") {
  return page.$$eval(`[data-test="${chart}"] [data-test="${mark}"]`, (els, key) => els.map((e) => [e.getAttribute(key), Number(e.getAttribute("data-value")), e.getAttribute("data-series")]), key);
}

const close = (a, b) => Math.abs(a - b) < 1e-9;

journey("HQ sees groups, dish demand, new-dish acceptance, the churn model and dead letters as charts", async () => {
  // A menu with a dish launched 20 days ago, and a year of visits with dish lines by 80 guests
  // (Poisson visits with dropout, seeded), enough for the chain's models to fit.
  const day = 86_400_000;
  const now = Date.now();
  const launched = new Date(now - 20 * day);
  const menu = [
    ["d-grouper", "清蒸石斑", "海鲜", null],
    ["d-shrimp", "白灼虾", "海鲜", null],
    ["d-mango", "杨枝甘露", "甜品", { year: launched.getFullYear(), month: launched.getMonth() + 1, day: launched.getDate() }],
    ["d-rice", "XO酱炒饭", "主食", null],
  ];
  for (const [dishId, name, category, launchDate] of menu) {
    await hq.call("ProfileService_UpsertDish", { body: { dish: { dishId, name, category, priceFen: "8800", active: true, ...(launchDate ? { launchDate } : {}) } } });
  }
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const events = [];
  for (let c = 0; c < 80; c++) {
    const rate = [1 / 10, 1 / 20, 1 / 45, 1 / 90][c % 4] * (0.5 + random());
    const dropout = [0.05, 0.15, 0.3][c % 3];
    for (let ago = 360 * random() + 5, v = 0; ago > 0 && v < 30; v++) {
      const [dishId, dishName, category] = menu[(c + v) % (c % 2 ? 2 : 4)];
      events.push({
        channel: "EVENT_CHANNEL_POS",
        externalId: `history-${c}-${v}`,
        kind: "CONTACT_KIND_VISIT",
        identityKeys: [{ kind: "IDENTITY_KIND_PHONE", value: `1370000${String(c).padStart(4, "0")}` }],
        storeId: store,
        occurredAt: new Date(now - ago * day).toISOString(),
        partySize: 2,
        amount: { amountFen: String(10_000 + c * 500) },
        lines: [{ dishId, dishName, category, quantity: 1, amountFen: "8800" }],
      });
      if (random() < dropout) break;
      ago -= -Math.log(1 - random()) / rate;
    }
  }
  await hq.call("ProfileService_RecordEventsBatch", { body: { events } });
  // Tagging reads the visits from the event log: wait until every consumer has caught up.
  await until(() => hq.call("Gateway_Consumers", {}), (r) => r.caughtUp);
  const refit = await until(
    () => hq.call("TaggingService_RefitModels", { body: { requestId: `console-refit-${Date.now()}` } }).catch((e) => e),
    (r) => r.progress?.jobId,
  );
  const job = await until(
    () => hq.call("TaggingService_GetJob", { path: { job_id: refit.progress.jobId } }),
    (r) => !["JOB_STATE_PENDING", "JOB_STATE_RUNNING"].includes(r.progress?.state),
  );
  assert.equal(job.progress.state, "JOB_STATE_SUCCEEDED", JSON.stringify(job));

  // A service SMS the provider refuses: with one attempt allowed it is a dead letter at once.
  await hq.call("NotificationService_UpdateChainPolicy", { body: { policy: { maxAttempts: 1 } } });
  const { template } = await hq.call("NotificationService_CreateTemplate", {
    body: { template: { name: "table-ready", channel: "MESSAGE_CHANNEL_SMS", purpose: "MESSAGE_PURPOSE_SERVICE", locale: "zh-CN", body: "您的餐位已备好" }, requestId: "console-template-1" },
  });
  const guest = (await hq.call("ProfileService_LookupCustomer", { body: { identityKey: { kind: "IDENTITY_KIND_PHONE", value: "13700000001" } } })).customer.customerId;
  refusing.add(guest);
  const sent = await hq.call("NotificationService_SendMessage", {
    body: { customerId: guest, templateId: template.templateId, channel: "MESSAGE_CHANNEL_SMS", purpose: "MESSAGE_PURPOSE_SERVICE", requestId: "console-dead-1" },
  });
  await until(() => hq.call("NotificationService_GetDelivery", { path: { message_id: sent.delivery.messageId } }), (r) => r.delivery?.status === "MESSAGE_STATUS_DEAD");

  // What the charts must show, straight from the API.
  const { policy } = await hq.call("ProfileService_GetClassificationPolicy", {});
  const expressions = policy.classes.map((c) => `class == "${c.class.replace("CUSTOMER_CLASS_", "")}"`);
  const compared = await hq.call("TaggingService_CompareGroups", { body: { groups: expressions.map((expression) => ({ expression })), windowDays: 90 } });
  const demand = await hq.call("TaggingService_GetDishDemand", { query: { horizon_days: 7 } });
  const acceptance = await hq.call("TaggingService_GetNewDishAcceptance", { query: { window_days: 30 } });
  const { report } = await hq.call("TaggingService_GetModelReport", {});

  const { segment: segmentC } = await hq.call("TaggingService_CreateSegment", { body: { segment: { name: "C类客人", expression: 'class == "C"' }, requestId: "console-segment-c" } });

  // A marketing campaign to that segment: its messages are listed by campaign.
  const { template: offer } = await hq.call("NotificationService_CreateTemplate", {
    body: { template: { name: "dessert-offer", channel: "MESSAGE_CHANNEL_SMS", purpose: "MESSAGE_PURPOSE_MARKETING", locale: "zh-CN", body: "杨枝甘露新品尝鲜" }, requestId: "console-template-2" },
  });
  const { campaign } = await hq.call("NotificationService_CreateCampaign", {
    body: { campaign: { name: "甜品尝鲜", segment: segmentC.segmentId, templateId: offer.templateId }, requestId: "console-campaign-1" },
  });
  await until(() => hq.call("NotificationService_GetCampaign", { path: { campaign_id: campaign.campaignId } }), (r) => r.campaign.state === "CAMPAIGN_STATE_COMPLETED");
  const campaignMessages = await hq.call("NotificationService_ListDeliveries", { query: { campaign_id: campaign.campaignId, page_size: 10 } });
  assert.ok(campaignMessages.deliveries.length > 0, "the campaign made messages");

  const page = await signIn("hq_admin");
  // Tag groups: one bar per class, its size and average ticket as the API figures them.
  await page.waitForSelector('[data-test="compare-size"] [data-test="bar"]', { state: "attached" });
  const sizes = await drawn(page, "compare-size");
  assert.deepEqual(sizes.map(([label, value]) => [label, value]), compared.groups.map((g) => [g.group.expression, Number(g.size ?? 0)]));
  assert.ok(sizes.some(([, value]) => value > 0), `some class has guests: ${JSON.stringify(sizes)}`);
  const tickets = await drawn(page, "compare-ticket");
  assert.deepEqual(tickets.map(([, value]) => value), compared.groups.map((g) => Number(g.averageTicketFen ?? 0)));

  // Dish demand: expected covers per category, seafood (the most preferred) first.
  await page.waitForSelector('[data-test="demand-categories"] [data-test="bar"]', { state: "attached" });
  const categories = await drawn(page, "demand-categories");
  assert.equal(categories.length, demand.categories.length);
  for (const [label, value] of categories) {
    const row = demand.categories.find((d) => d.name === label);
    assert.ok(row && close(value, row.expectedCovers ?? 0), `${label}: ${value} vs ${JSON.stringify(row)}`);
  }
  assert.equal(categories[0][0], "海鲜");
  assert.ok(categories[0][1] > 0, "seafood has expected covers once the model is fitted");

  // New-dish acceptance: the launched dish with its smoothed acceptance and tried/visited.
  const mango = acceptance.dishes.find((d) => d.dishId === "d-mango");
  await page.waitForSelector('[data-test="acceptance"] [data-test="bar"][data-label="杨枝甘露"]');
  const [[, accepted]] = await drawn(page, "acceptance");
  assert.ok(close(accepted, mango.acceptance), `${accepted} vs ${mango.acceptance}`);
  assert.match(await page.textContent('[data-test="acceptance"]'), new RegExp(`${Number(mango.tried ?? 0)}/${Number(mango.visited ?? 0)}`));

  // The churn model: calibration predicted and actual per row, and P(alive) over the page.
  await page.waitForSelector('[data-test="model-fit"][data-fitted="true"]');
  const points = await drawn(page, "calibration", "point", "data-x");
  const predicted = points.filter(([, , series]) => series === "预测");
  assert.equal(predicted.length, report.calibration.length);
  for (const row of report.calibration) {
    const point = predicted.find(([x]) => x === String(Number(row.calibrationVisits ?? 0)));
    assert.ok(point && close(point[1], row.predictedHoldoutVisits), `calibration row ${JSON.stringify(row)} drawn as ${JSON.stringify(point)}`);
  }
  await page.waitForSelector('[data-test="p-alive-histogram"] [data-test="bar"]', { state: "attached" });
  const bins = await drawn(page, "p-alive-histogram");
  assert.equal(bins.length, 10);
  const customers = (await hq.call("ProfileService_ListCustomers", { query: { page_size: 100 } })).customers;
  const scored = [];
  for (const c of customers) {
    const p = await hq.call("TaggingService_GetCustomerPrediction", { path: { customer_id: c.customerId } }).catch(() => undefined);
    if (p?.prediction) scored.push(p.prediction.pAlive ?? 0);
  }
  assert.ok(scored.length >= 80, `the history's guests are scored: ${scored.length}`);
  assert.equal(bins.reduce((n, [, v]) => n + v, 0), scored.length);
  assert.equal(bins[9][1], scored.filter((v) => v >= 0.9).length);
  const below = scored.filter((v) => v < report.settings.churnThreshold).length;
  assert.equal(await page.getAttribute('[data-test="churn-below"]', "data-count"), String(below));

  // A saved segment exports as CSV, every member once (read page by page, with progress).
  const members = [];
  let token;
  do {
    const r = await hq.call("TaggingService_ListSegmentMembers", { body: { segment: { segmentId: segmentC.segmentId }, pageSize: 50, pageToken: token } });
    members.push(...r.customerIds);
    token = r.nextPageToken;
  } while (token);
  const row = page.locator('[data-test="segments-row"]:has-text("C类客人")');
  const [download] = await Promise.all([page.waitForEvent("download"), row.locator('[data-test="segment-export"]').click()]);
  const csv = (await readFile(await download.path(), "utf8")).trim().split(/\r\n/);
  assert.equal(csv[0], "customer_id");
  assert.deepEqual(csv.slice(1).sort(), [...members].sort());
  // Imports leave classes current, so class C holds only part of the history's guests.
  assert.ok(members.length > 0, `${members.length} members`);
  await row.locator(`[data-test="export-done"][data-count="${members.length}"]`).waitFor();

  // Dead letters are listed first, with the provider's answer as the reason.
  await page.waitForSelector('[data-test="deliveries-row"] [data-test="delivery-row-status"]:has-text("死信")');
  assert.match(await page.textContent('[data-test="deliveries"]'), /503/);
  await screenshot(page, "hq-analysis", '[data-test="analysis"]');
  // Delivered only: the dead letter leaves the list.
  await page.selectOption('[data-test="delivery-status"]', "MESSAGE_STATUS_DELIVERED");
  await page.waitForSelector('[data-test="deliveries"]:not(:has-text("死信"))');
  // A click on the campaign lists its messages, in every status, as the API pages them.
  await page.click('[data-test="campaigns-row"]:has-text("甜品尝鲜")');
  await page.waitForSelector('[data-test="delivery-campaign"]:has-text("甜品尝鲜")');
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-test="deliveries-row"] [data-test="delivery-row-status"]').length === n,
    campaignMessages.deliveries.length,
  );
  const shown = await page.$$eval('[data-test="deliveries-row"] [data-test="delivery-row-status"]', (els) => els.map((e) => e.getAttribute("data-status")));
  assert.deepEqual(shown, campaignMessages.deliveries.map((d) => d.status));
});
