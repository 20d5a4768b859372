// Segment export: the members of a saved segment as a CSV download, read page by page through
// ListSegmentMembers (the REST API has no export route — ExportSegment is a gRPC server stream
// only — and both give customer ids), with progress while it runs.

import type { MaitreClient, Segment } from "@maitre/client";
import { t } from "../i18n";
import { attempt, clear, h } from "../ui";

const PAGE = 1000;

export function exportButton(api: MaitreClient, segment: Segment): HTMLElement {
  const status = h("span", { class: "muted small", "data-test": "export-progress" });
  const button = h("button", { class: "small", "data-test": "segment-export" }, t("export"));
  button.addEventListener("click", async (e) => {
    e.stopPropagation();
    button.disabled = true;
    const ids: string[] = [];
    const done = await attempt(status, async () => {
      let token: string | undefined;
      do {
        const r = await api.call("TaggingService_ListSegmentMembers", {
          body: { segment: { segmentId: segment.segmentId }, pageSize: PAGE, pageToken: token },
        });
        ids.push(...(r.customerIds ?? []));
        token = r.nextPageToken || undefined;
        status.textContent = t("exported", { n: ids.length, total: Number(r.total ?? ids.length) });
      } while (token);
      return true;
    });
    button.disabled = false;
    if (!done) return;
    // A header line, then one customer id per line (ids never contain commas or quotes).
    const csv = ["customer_id", ...ids].join("\r\n") + "\r\n";
    const url = URL.createObjectURL(new Blob([csv], { type: "text/csv;charset=utf-8" }));
    const link = h("a", { href: url, download: `segment-${fileName(segment.name || segment.segmentId || "export")}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    clear(status, h("span", { "data-test": "export-done", "data-count": ids.length }, t("exportDone", { n: ids.length })));
  });
  return h("span", { class: "export" }, button, " ", status);
}

function fileName(name: string): string {
  return name.replace(/[\\/:*?"<>|\s]+/g, "_").slice(0, 60);
}
