// A few DOM helpers: elements, error messages in words, paginated tables.

import { MaitreError } from "@maitre/client";
import { t, type Key } from "./i18n";

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

/** Creates an element: h("button", { onclick: f, "data-test": "save" }, "保存"). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "value" && "value" in el) (el as HTMLInputElement).value = String(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) el.append(child instanceof Node ? child : String(child));
  return el;
}

export function clear(el: Element, ...children: Child[]): void {
  el.replaceChildren(...children.filter((c): c is Node | string | number => c !== null && c !== undefined && c !== false).map((c) => (c instanceof Node ? c : String(c))));
}

/** A failure in words, with the field it concerns. */
export function errorBox(error: unknown): HTMLElement {
  if (error instanceof MaitreError) {
    return h(
      "div",
      { class: "error", role: "alert", "data-test": "error", "data-field": error.field ?? "" },
      h("strong", {}, codeWords(error.code)),
      " ",
      error.field ? h("span", { class: "field" }, `${t("field")} ${error.field}: `) : null,
      error.detail,
    );
  }
  return h("div", { class: "error", role: "alert", "data-test": "error" }, String((error as Error)?.message ?? error));
}

function codeWords(code: string): string {
  const zh = document.documentElement.lang !== "en";
  const words: Record<string, [string, string]> = {
    INVALID_ARGUMENT: ["输入有误", "Invalid input"],
    NOT_FOUND: ["未找到", "Not found"],
    PERMISSION_DENIED: ["无权操作", "Not allowed"],
    UNAUTHENTICATED: ["请重新登录", "Please sign in again"],
    FAILED_PRECONDITION: ["当前状态不允许", "Not possible now"],
    ALREADY_EXISTS: ["已存在", "Already exists"],
    RESOURCE_EXHAUSTED: ["请求过多", "Too many requests"],
    UNAVAILABLE: ["服务暂不可用", "Service unavailable"],
  };
  const pair = words[code];
  return pair ? pair[zh ? 0 : 1] : code;
}

/** Runs `action`, showing its failure in `where` (cleared first). */
export async function attempt<T>(where: Element, action: () => Promise<T>): Promise<T | undefined> {
  clear(where);
  try {
    return await action();
  } catch (error) {
    clear(where, errorBox(error));
    return undefined;
  }
}

export interface Column<T> {
  label: Key;
  cell: (item: T) => Child | Promise<Child>;
}

/**
 * A table over a paged list: previous/next with the page tokens kept, so every list in the
 * console pages the same way. `reload()` fetches the current page again.
 */
export function pagedTable<T>(options: {
  test: string;
  columns: Column<NoInfer<T>>[];
  load: (pageToken?: string) => Promise<{ items: T[]; nextPageToken?: string }>;
  onRow?: (item: NoInfer<T>) => void;
}) {
  const tokens: (string | undefined)[] = [undefined];
  let index = 0;
  let next: string | undefined;
  const body = h("tbody");
  const status = h("div", { class: "status" });
  const prev = h("button", { class: "small", "data-test": `${options.test}-prev`, onclick: () => go(index - 1) }, t("prev"));
  const nextButton = h("button", { class: "small", "data-test": `${options.test}-next`, onclick: () => go(index + 1) }, t("next"));
  const pageLabel = h("span", { class: "page" });
  const table = h(
    "table",
    { "data-test": options.test },
    h("thead", {}, h("tr", {}, ...options.columns.map((c) => h("th", {}, t(c.label))))),
    body,
  );
  const el = h("div", { class: "paged" }, table, status, h("div", { class: "pager" }, prev, pageLabel, nextButton));

  async function go(to: number) {
    if (to < 0 || (to > index && !next)) return;
    if (to > index) tokens[to] = next;
    const result = await attempt(status, () => options.load(tokens[to]));
    if (!result) return;
    index = to;
    next = result.nextPageToken || undefined;
    const rows = await Promise.all(
      result.items.map(async (item) => {
        const cells = await Promise.all(options.columns.map(async (c) => h("td", {}, await c.cell(item))));
        const row = h("tr", { "data-test": `${options.test}-row` }, ...cells);
        if (options.onRow) {
          row.classList.add("clickable");
          row.addEventListener("click", () => options.onRow!(item));
        }
        return row;
      }),
    );
    clear(body, ...rows);
    if (rows.length === 0) clear(body, h("tr", {}, h("td", { colspan: options.columns.length, class: "muted" }, t("empty"))));
    pageLabel.textContent = t("page", { n: index + 1 });
    prev.disabled = index === 0;
    nextButton.disabled = !next;
  }
  return { el, reload: () => go(index), first: () => go(0) };
}

/** Formats fen as yuan. */
export function yuan(fen: string | number | undefined): string {
  const n = Number(fen ?? 0) / 100;
  return `¥${n.toLocaleString("zh-CN", { minimumFractionDigits: 0, maximumFractionDigits: 2 })}`;
}

export function when(ts: string | undefined): string {
  if (!ts) return "—";
  return new Date(ts).toLocaleString(document.documentElement.lang === "en" ? "en-GB" : "zh-CN");
}

export function section(titleKey: Key, test: string, ...children: Child[]): HTMLElement {
  return h("section", { class: "card", "data-test": test }, h("h2", {}, t(titleKey)), ...children);
}

/** `action` at most once per `ms`, after the last call (a replayed stream asks many times). */
export function debounce(action: () => void, ms = 300): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(action, ms);
  };
}
