// The revstream dashboard: plain JavaScript over /dashboard/api, charts by the vendored Chart.js.
// Money arrives formatted by the server ({nanos, minor, text, currency}); this file never
// computes money. Charts plot integer minor units and show the server's texts.
"use strict";

const TOKEN_KEY = "revstream.dashboard.token";
const PALETTE = ["#2f6fdd", "#e07b39", "#3a9d5d", "#b8406e", "#7a5cc7", "#c9a227", "#2aa4b5", "#6b7280"];
const charts = new Map();

const $ = (id) => document.getElementById(id);
const token = () => sessionStorage.getItem(TOKEN_KEY);

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path) {
  return getJson("/dashboard/api" + path);
}

// The customer's plan and invoices come from its own /v1 endpoints, with the same key.
async function getJson(url) {
  const response = await fetch(url, { headers: { Authorization: "Bearer " + token() } });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && body.error ? body.error.message : response.statusText;
    throw new ApiError(response.status, message);
  }
  return body;
}

// --- small DOM helpers (text only: nothing from the server is parsed as HTML) -----------

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function money(amount) {
  return amount ? amount.text + " " + amount.currency : "—";
}

// columns: [{title, value: (row) => text or Node, num: bool}]
function fillTable(table, columns, rows, emptyText) {
  table.replaceChildren();
  if (columns.some((column) => column.title)) {
    const head = el("tr");
    for (const column of columns) head.append(el("th", column.title, column.num ? "num" : ""));
    table.append(el("thead"));
    table.tHead.append(head);
  }
  const body = el("tbody");
  if (rows.length === 0) {
    const cell = el("td", emptyText || "nothing yet", "empty");
    cell.colSpan = columns.length;
    body.append(el("tr"));
    body.lastChild.append(cell);
  }
  for (const row of rows) {
    const line = el("tr");
    for (const column of columns) {
      const value = column.value(row);
      const cell = el("td", null, column.num ? "num" : "");
      if (value instanceof Node) cell.append(value); else cell.textContent = value === null || value === undefined ? "—" : String(value);
      line.append(cell);
    }
    body.append(line);
  }
  table.append(body);
}

// --- charts --------------------------------------------------------------------------------

// An integer count of minor units as text, by inserting the decimal point into its digits.
function minorText(value, digits) {
  if (!Number.isInteger(value)) return "";
  let text = String(Math.abs(value));
  if (digits > 0) {
    text = text.padStart(digits + 1, "0");
    text = text.slice(0, -digits) + "." + text.slice(-digits);
  }
  return (value < 0 ? "-" : "") + text;
}

function drawChart(canvasId, type, labels, datasets, options) {
  const canvas = $(canvasId);
  const previous = charts.get(canvasId);
  if (previous) previous.destroy();
  canvas.removeAttribute("data-ready");
  const styled = datasets.map((dataset, index) => ({
    ...dataset,
    backgroundColor: PALETTE[index % PALETTE.length],
    borderColor: PALETTE[index % PALETTE.length],
    borderWidth: type === "line" ? 2 : 0,
  }));
  const moneyDigits = options.moneyDigits;
  const currency = options.currency || "";
  const chart = new Chart(canvas, {
    type,
    data: { labels, datasets: styled },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: {
        x: { stacked: type === "bar" },
        y: {
          stacked: type === "bar",
          beginAtZero: true,
          ticks: { precision: 0, callback: (value) => (moneyDigits === undefined ? value : minorText(value, moneyDigits)) },
          title: { display: Boolean(options.yTitle), text: options.yTitle || "" },
        },
      },
      plugins: {
        tooltip: {
          callbacks: {
            label: (item) => {
              const texts = item.dataset.texts;
              const shown = texts ? texts[item.dataIndex] + " " + currency : item.formattedValue;
              return item.dataset.label + ": " + shown;
            },
          },
        },
      },
    },
  });
  charts.set(canvasId, chart);
  canvas.dataset.ready = "1";
  return chart;
}

// A money chart from the server's [{currency, minor_digits, total, datasets}]: the first currency
// (charts do not mix currencies); the totals of every currency are written beside it.
function drawMoneyChart(canvasId, totalId, labels, perCurrency) {
  const first = perCurrency[0];
  if (totalId) $(totalId).textContent = perCurrency.length ? perCurrency.map((c) => money(c.total)).join(" · ") : "no priced usage";
  drawChart(canvasId, "bar", labels, first ? first.datasets : [], {
    moneyDigits: first ? first.minor_digits : 0, currency: first ? first.currency : "", yTitle: first ? first.currency : "",
  });
}

function drawCountChart(canvasId, totalId, labels, counts, unit) {
  $(totalId).textContent = counts.total + " " + unit;
  drawChart(canvasId, "bar", labels, counts.datasets, {});
}

// --- downloads: fetched with the token, handed to the browser as a file -------------------

async function download(event) {
  event.preventDefault();
  const link = event.currentTarget;
  try {
    const response = await fetch(link.href, { headers: { Authorization: "Bearer " + token() } });
    if (!response.ok) throw new ApiError(response.status, "download failed: HTTP " + response.status);
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const anchor = el("a");
    anchor.href = url;
    anchor.download = link.dataset.filename;
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (error) {
    showError(error);
  }
}

function downloadLinks(statement) {
  const span = el("span");
  for (const [kind, href] of Object.entries(statement.downloads)) {
    const link = el("a", kind.toUpperCase(), "download");
    link.href = href;
    link.dataset.filename = statement.statement + "." + kind;
    link.dataset.format = kind;
    link.addEventListener("click", download);
    span.append(link);
  }
  return span;
}

function verificationCell(statement) {
  return el("span", statement.verification.text, "state-" + statement.verification.state);
}

function fillStatements(tableId, statements, withLicensor) {
  const columns = [
    { title: "statement", value: (s) => s.statement },
    { title: "period", value: (s) => s.period },
  ];
  if (withLicensor) columns.push({ title: "licensor", value: (s) => s.licensor });
  columns.push(
    { title: "share total", value: (s) => money(s.share_total), num: true },
    { title: "payable", value: (s) => money(s.payable), num: true },
    { title: "verification", value: verificationCell },
    { title: "download", value: downloadLinks },
  );
  fillTable($(tableId), columns, statements, "no statements yet: they appear when a period is settled");
}

// --- the three views -------------------------------------------------------------------------

async function showHost() {
  const bucket = $("host-bucket").value;
  const [usage, customers, licensors, statements, checkpoint] = await Promise.all([
    api("/host/usage?bucket=" + bucket), api("/host/customers?bucket=" + bucket), api("/host/licensors"),
    api("/statements"), api("/host/checkpoint"),
  ]);
  $("host-window").textContent = "from " + usage.window.since.slice(0, 10) + " until " + usage.window.before.slice(0, 10) + " (UTC)";
  drawMoneyChart("chart-revenue-stream", "host-revenue-total", usage.labels, usage.revenue_by_stream);
  drawMoneyChart("chart-revenue-model", null, usage.labels, usage.revenue_by_model);
  drawCountChart("chart-requests", "host-requests-total", usage.labels, usage.requests_by_model, "requests");
  drawCountChart("chart-tokens", "host-tokens-total", usage.labels, usage.tokens_by_model, "tokens");
  $("costs-note").textContent = usage.costs_configured ? "serving cost from the [costs] section of the config"
    : "no serving cost configured: add a [costs] section to the config to see the margin";
  fillTable($("streams"), [
    { title: "stream", value: (s) => s.stream }, { title: "requests", value: (s) => s.requests, num: true },
    { title: "tokens", value: (s) => s.tokens, num: true }, { title: "revenue", value: (s) => money(s.revenue), num: true },
    { title: "serving cost", value: (s) => money(s.cost), num: true }, { title: "margin", value: (s) => money(s.margin), num: true },
  ], usage.streams);
  fillTable($("customers"), [
    { title: "customer", value: (c) => c.customer }, { title: "requests", value: (c) => c.requests, num: true },
    { title: "tokens", value: (c) => c.tokens, num: true }, { title: "spent", value: (c) => money(c.spent), num: true },
  ], customers.top);
  fillTable($("outstanding"), [
    { title: "account", value: (o) => o.kind === "customer_credit" ? "prepaid credit held" : "owed by postpaid customers" },
    { title: "total", value: (o) => money(o.balance), num: true },
  ], customers.outstanding, "no credit or receivables");
  fillTable($("accounts"), [
    { title: "customer", value: (a) => a.customer }, { title: "billing", value: (a) => a.billing_mode },
    { title: "account", value: (a) => a.kind === "customer_credit" ? "prepaid credit" : "receivable" },
    { title: "balance", value: (a) => money(a.balance), num: true }, { title: "credit limit", value: (a) => money(a.credit_limit), num: true },
  ], customers.accounts, "no customer accounts");
  const owedRows = licensors.licensors.flatMap((l) => [
    ...l.closed.map((p) => ({ licensor: l.licensor, period: p.period, state: "closed (" + p.statement + ")", payable: p.payable })),
    ...l.open.map((p) => ({ licensor: l.licensor, period: p.period, state: "open: so far, " + p.records + " records", payable: p.payable })),
  ]);
  fillTable($("licensors"), [
    { title: "licensor", value: (r) => r.licensor }, { title: "period", value: (r) => r.period },
    { title: "state", value: (r) => r.state }, { title: "owed", value: (r) => money(r.payable), num: true },
  ], owedRows, "no agreements yet");
  fillStatements("host-statements", statements.statements, true);
  showCheckpoint(checkpoint.checkpoint);
}

function showCheckpoint(checkpoint) {
  const box = $("checkpoint");
  box.replaceChildren();
  if (!checkpoint) {
    box.append(el("p", "no signed checkpoint yet (run `revstream log init`; checkpoints follow)", "muted"));
    return;
  }
  box.append(el("p", "size " + checkpoint.size + ", root " + checkpoint.root + ", signed " + checkpoint.created));
  box.append(el("pre", checkpoint.note, "note"));
}

async function showLicensor() {
  const [trend, statements] = await Promise.all([api("/licensor/trend"), api("/statements")]);
  const first = trend.currencies[0];
  drawChart("chart-share", "line", trend.periods, first ? first.datasets : [], {
    moneyDigits: first ? first.minor_digits : 0, currency: first ? first.currency : "", yTitle: first ? first.currency : "",
  });
  fillStatements("licensor-statements", statements.statements, false);
}

async function showCustomer() {
  const [usage, balance] = await Promise.all([api("/customer/usage?bucket=day"), api("/customer/balance")]);
  drawMoneyChart("chart-customer-spend", "customer-spend-total", usage.labels, usage.revenue_by_model);
  drawCountChart("chart-customer-tokens", "customer-tokens-total", usage.labels, usage.tokens_by_model, "tokens");
  drawCountChart("chart-customer-requests", "customer-requests-total", usage.labels, usage.requests_by_model, "requests");
  const rows = [["customer", balance.customer], ["billing", balance.billing_mode], ["currency", balance.currency || "—"]];
  for (const name of ["available", "reserved", "spent", "credit_limit"]) {
    if (balance[name] && typeof balance[name] === "object") rows.push([name.replace("_", " "), money(balance[name])]);
  }
  fillTable($("balance"), [{ title: "", value: (r) => r[0] }, { title: "", value: (r) => r[1], num: true }], rows);
  const [plan, invoices] = await Promise.all([getJson("/v1/plan"), getJson("/v1/invoices")]);
  fillPlan(plan);
  fillTable($("customer-invoices"), [
    { title: "invoice", value: (i) => i.number }, { title: "period", value: (i) => i.period },
    { title: "total", value: (i) => i.total + " " + i.currency, num: true },
    { title: "download", value: invoiceLinks },
  ], invoices.data, "no invoices yet: they are issued per month with `revstream invoice`");
}

function fillPlan(current) {
  const pairs = (rows) => fillTable($("customer-plan"),
    [{ title: "", value: (r) => r[0] }, { title: "", value: (r) => r[1], num: true }], rows);
  if (!current.plan) return pairs([["plan", "none: pay as you go"], ["", current.message]]);
  const plan = current.plan;
  // Token counts are integers; nothing here is money arithmetic.
  pairs([["plan", plan.plan + " (" + plan.kind + ")"], ["models", plan.models.length ? plan.models.join(", ") : "all"],
         ["included this window", current.tokens_included], ["used", current.tokens_used],
         ["reserved by running requests", current.tokens_reserved], ["remaining", current.tokens_remaining],
         ["renews", current.renews]]);
}

function invoiceLinks(invoice) {
  const span = el("span");
  for (const [kind, suffix] of [["JSON", ""], ["PDF", ".pdf"]]) {
    const link = el("a", kind, "download");
    link.href = "/v1/invoices/" + invoice.invoice + suffix;
    link.dataset.filename = "invoice-" + invoice.number + (suffix || ".json");
    link.addEventListener("click", download);
    span.append(link);
  }
  return span;
}

const VIEWS = { host: showHost, licensor: showLicensor, customer: showCustomer };

// --- start -------------------------------------------------------------------------------------

function showError(error) {
  $("error").textContent = error.message;
  $("error").hidden = false;
}

function showLogin(message) {
  for (const view of Object.keys(VIEWS)) $(view).hidden = true;
  $("login").hidden = false;
  $("logout").hidden = true;
  $("who").textContent = "";
  delete document.body.dataset.view;
  if (message) showError(new Error(message)); else $("error").hidden = true;
}

async function start() {
  if (!token()) return showLogin();
  $("error").hidden = true;
  delete document.body.dataset.loaded;
  try {
    const me = await api("/me");
    $("login").hidden = true;
    $("logout").hidden = false;
    $("who").textContent = me.view + " view · " + me.name;
    $(me.view).hidden = false;
    document.body.dataset.view = me.view;
    await VIEWS[me.view]();
    if (me.console) await showConsole();  // issue 17: console.js
    document.body.dataset.loaded = "1";
  } catch (error) {
    if (error.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      return showLogin(error.message);
    }
    showError(error);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    start();
  });
  $("logout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin();
  });
  $("host-bucket").addEventListener("change", start);
  start();
});
