// The dashboard's rights view (issue 16): a rights holder (token from `revstream holders token
// NAME`) sees its registered works, how often the recitation guard blocked or cited each, and the
// latest events with the log index that proves them. Figures come from
// /dashboard/api/holder/rights; nothing here computes them. Uses app.js's helpers and VIEWS.
"use strict";

async function showHolder() {
  const rights = await api("/holder/rights");
  fillTable($("holder-works"), [
    { title: "work", value: (w) => w.title },
    { title: "id", value: (w) => w.work_id },
    { title: "mode", value: (w) => w.mode },
    { title: "limit (words)", num: true, value: (w) => (w.limit_words === null ? "host default" : w.limit_words) },
    { title: "windows", num: true, value: (w) => w.windows },
    { title: "blocked", num: true, value: (w) => w.blocked },
    { title: "cited", num: true, value: (w) => w.cited },
    { title: "removed", value: (w) => w.removed || "" },
  ], rights.works, "no work registered");
  fillTable($("holder-events"), [
    { title: "time", value: (e) => e.time },
    { title: "work", value: (e) => e.title || e.work_id },
    { title: "action", value: (e) => e.action },
    { title: "window hash", value: (e) => e.window_hash },
    { title: "model", value: (e) => e.model },
    { title: "log index", num: true, value: (e) => e.log_index },
    { title: "settled", value: (e) => e.settled_period || "open" },
  ], rights.events, "no recitation recorded");
}

VIEWS.holder = showHolder;
