// The licensor console (issue 17): on a licensor's own install, the statements of every host it
// follows, as `revstream licensor sync` verified them, per period and in total per currency.
// Uses app.js's helpers (api, fillTable, el, money, $, showError). Money arrives formatted by the
// server; nothing here computes money or sums across currencies.
"use strict";

function consoleState(statement) {
  return statement.reason ? statement.state + ": " + statement.reason : statement.state;
}

function keyRows(table, keys) {
  const rows = table.tBodies[0] ? table.tBodies[0].rows : [];
  keys.forEach((key, index) => { if (rows[index]) rows[index].dataset.key = key; });
}

async function showConsole(period) {
  const data = await api("/console" + (period ? "?period=" + encodeURIComponent(period) : ""));
  $("console").hidden = false;
  const select = $("console-period");
  select.replaceChildren(...data.periods.map((each) => { const option = el("option", each); option.value = each; return option; }));
  if (!data.periods.includes(data.period)) select.append(el("option", data.period));
  select.value = data.period;

  const rows = data.hosts.flatMap((host) => [
    ...host.statements.map((s) => ({ key: s.statement, host: host.host, statement: s })),
    ...host.missing.map((m) => ({ key: "missing:" + host.host + ":" + (m.agreement || ""), host: host.host, missing: m })),
  ]);
  const table = $("console-statements");
  fillTable(table, [
    { title: "host", value: (r) => r.host },
    { title: "statement", value: (r) => r.statement ? r.statement.statement : "missing" },
    { title: "gross", value: (r) => r.statement ? money(r.statement.gross) : "—", num: true },
    { title: "share", value: (r) => r.statement ? money(r.statement.share) : "—", num: true },
    { title: "minimum top-up", value: (r) => r.statement ? money(r.statement.minimum_top_up) : "—", num: true },
    { title: "cap reduction", value: (r) => r.statement ? money(r.statement.cap_reduction) : "—", num: true },
    { title: "payable", value: (r) => r.statement ? money(r.statement.payable) : "—", num: true },
    { title: "state", value: (r) => r.statement ? consoleState(r.statement) : r.missing.reason },
  ], rows, "no statements for this period: run `revstream licensor sync`");
  keyRows(table, rows.map((r) => r.key));

  const totals = $("console-totals");
  fillTable(totals, [
    { title: "currency", value: (t) => t.currency },
    { title: "verified", value: (t) => t.verified, num: true }, { title: "failed", value: (t) => t.failed, num: true },
    { title: "unchecked", value: (t) => t.unchecked, num: true }, { title: "missing", value: (t) => t.missing, num: true },
    { title: "gross", value: (t) => money(t.gross), num: true }, { title: "share", value: (t) => money(t.share), num: true },
    { title: "minimum top-up", value: (t) => money(t.minimum_top_up), num: true },
    { title: "cap reduction", value: (t) => money(t.cap_reduction), num: true },
    { title: "payable", value: (t) => money(t.payable), num: true },
    { title: "claimed, not verified", value: (t) => money(t.unverified_claims), num: true },
  ], data.totals, "nothing for this period");
  keyRows(totals, data.totals.map((t) => t.currency));

  const overview = $("console-overview");
  fillTable(overview, [
    { title: "period", value: (o) => o.period },
    { title: "verified", value: (o) => o.verified, num: true }, { title: "failed", value: (o) => o.failed, num: true },
    { title: "unchecked", value: (o) => o.unchecked, num: true }, { title: "missing", value: (o) => o.missing, num: true },
    { title: "share verified, per currency", value: (o) => o.share.length ? o.share.map(money).join(" · ") : "—", num: true },
  ], data.overview, "no statements yet");
  keyRows(overview, data.overview.map((o) => o.period));
  // Reasons are sentences: let them wrap (CSSOM, which the page's content security policy allows).
  for (const row of table.tBodies[0].rows) row.cells[row.cells.length - 1].style.whiteSpace = "normal";
  $("console").dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", () => {
  $("console-period").addEventListener("change", (event) => {
    delete $("console").dataset.ready;
    showConsole(event.target.value).catch(showError);
  });
});
