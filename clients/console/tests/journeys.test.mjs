// The console in a real browser (headless Chromium driven by playwright-core with the
// system's browser): one journey per role against the whole system started on free ports.
// Screenshots of each role's main page go to clients/console/artifacts/ (and, with
// MAITRE_UPDATE_SCREENSHOTS=1, to docs/screenshots/ for the README).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, copyFile, access } from "node:fs/promises";
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

let system, browser, hq, store, phoneSeq = 0;

const phone = () => `139${String(Date.now()).slice(-6)}${String(phoneSeq++).padStart(2, "0")}`;

before(async () => {
  await access(path.join(dist, "index.html")).catch(() => {
    throw new Error(`${dist}/index.html missing: run \`npm run build\` in clients/ first`);
  });
  await access(chromiumPath).catch(() => {
    throw new Error(`${chromiumPath} missing: install Debian's chromium (.ci/run does) or set MAITRE_CHROMIUM`);
  });
  await mkdir(artifacts, { recursive: true });
  system = await startSystem({ MAITRE_CONSOLE_DIR: dist });
  hq = new MaitreClient({ baseUrl: system.url, token: await devToken(system.url, "hq_admin", { staff: "admin" }) });
  const created = await hq.call("ProfileService_CreateStore", {
    body: { store: { name: "海港酒家 1号店", code: "S1", timeZone: "Asia/Shanghai" }, requestId: "console-store-1" },
  });
  store = created.store.storeId;
  for (const [id, name] of [["m01", "王经理"], ["m02", "张经理"], ["m03", "李经理"]]) {
    await hq.call("AssignmentService_UpsertManager", {
      path: { "manager.manager_id": id },
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

async function screenshot(page, name) {
  const file = path.join(artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
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
