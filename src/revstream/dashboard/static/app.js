// The revstream dashboard: plain JavaScript over /dashboard/api, charts by the vendored Chart.js.
// Money arrives formatted by the server ({nanos, minor, text, display, currency}, text exact to
// the nano); this file never computes money. Charts plot the server's integers, in units of
// 10^-plot_digits of the currency, and show the server's texts.
//
// A view is one entry of VIEWS (the token's kind -> the function that fills its <section>);
// fillTable() puts every table in a box that scrolls sideways on a narrow screen.
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
  if (!amount) return "—";
  return amount.display || amount.text + " " + amount.currency;
}

// Amounts in several currencies (a list of the server's amounts): one text, "—" for none.
function moneyList(amounts) {
  return amounts && amounts.length ? amounts.map(money).join(" · ") : "—";
}

// A count (requests, tokens) with thousands separators; counts are integers, not money.
function count(value) {
  return Number.isInteger(value) ? value.toLocaleString("en-US") : value;
}

// An RFC 3339 stamp from the server, to the minute: "2026-12-01 00:00 UTC" (string work only).
function when(stamp) {
  return typeof stamp === "string" && stamp.length >= 16 ? stamp.slice(0, 10) + " " + stamp.slice(11, 16) + " UTC" : stamp;
}

// Every table sits in a box that scrolls sideways when the table is wider than the screen.
function scrollBox(table) {
  if (table.parentElement && table.parentElement.classList.contains("table-scroll")) return;
  const box = el("div", null, "table-scroll");
  table.replaceWith(box);
  box.append(table);
}

// columns: [{title, value: (row) => text or Node, num: bool}]; rowTitle(row): a tooltip
function fillTable(table, columns, rows, emptyText, rowTitle) {
  scrollBox(table);
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
    if (rowTitle) line.title = rowTitle(row);
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

// An integer count of 10^-digits units as text, by placing the decimal point in its digits
// (digits < 0: units of 10^-digits, so zeros follow); trailing zeros are trimmed down to the
// currency's minor digits.
function unitsText(value, digits, minorDigits) {
  if (!Number.isInteger(value)) return "";
  let text = String(Math.abs(value));
  if (digits < 0) {
    text = value === 0 ? "0" : text + "0".repeat(-digits);
  } else if (digits > 0) {
    text = text.padStart(digits + 1, "0");
    let fraction = text.slice(-digits);
    const keep = Math.min(digits, Math.max(minorDigits || 0, 0));
    while (fraction.length > keep && fraction.endsWith("0")) fraction = fraction.slice(0, -1);
    text = text.slice(0, -digits) + (fraction ? "." + fraction : "");
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
    borderWidth: (dataset.type || type) === "line" ? 2 : 0,
  }));
  const moneyDigits = options.moneyDigits;
  const minorDigits = options.minorDigits;
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
          ticks: { precision: 0, callback: (value) => (moneyDigits === undefined ? count(value) : unitsText(value, moneyDigits, minorDigits)) },
          title: { display: Boolean(options.yTitle), text: options.yTitle || "" },
        },
      },
      plugins: {
        tooltip: {
          callbacks: {
            label: (item) => {
              const texts = item.dataset.texts;
              const shown = texts ? texts[item.dataIndex] + " " + currency : count(item.raw);
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

function moneyOptions(chart) {
  return chart ? { moneyDigits: chart.plot_digits, minorDigits: chart.minor_digits, currency: chart.currency, yTitle: chart.currency }
    : { moneyDigits: 0, minorDigits: 0, currency: "", yTitle: "" };
}

// A money chart from the server's [{currency, plot_digits, minor_digits, total, datasets}]: the
// first currency (charts do not mix currencies); the totals of every currency are written beside it.
function drawMoneyChart(canvasId, totalId, labels, perCurrency) {
  const first = perCurrency[0];
  if (totalId) $(totalId).textContent = perCurrency.length ? perCurrency.map((c) => money(c.total)).join(" · ") : "no revenue yet";
  drawChart(canvasId, "bar", labels, first ? first.datasets : [], moneyOptions(first));
}

function drawCountChart(canvasId, totalId, labels, counts, unit) {
  $(totalId).textContent = count(counts.total) + " " + unit;
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
  const columns = [{ title: "period", value: (s) => s.period }];
  if (withLicensor) columns.push({ title: "licensor", value: (s) => s.licensor });
  columns.push(
    { title: "models", value: (s) => s.models.join(", ") },
    { title: "terms", value: (s) => s.terms },
    { title: "share total", value: (s) => money(s.share_total), num: true },
    { title: "payable", value: (s) => money(s.payable), num: true },
    { title: "verification", value: verificationCell },
    { title: "download", value: downloadLinks },
  );
  fillTable($(tableId), columns, statements, "no statements yet: they appear when a period is settled",
    (s) => "statement " + s.statement);
}

// --- the three views -------------------------------------------------------------------------

async function showHost() {
  const bucket = $("host-bucket").value;
  const [usage, customers, licensors, statements, checkpoint, profile] = await Promise.all([
    api("/host/usage?bucket=" + bucket), api("/host/customers?bucket=" + bucket), api("/host/licensors"),
    api("/statements"), api("/host/checkpoint"), api("/host/profile"),
  ]);
  $("host-window").textContent = "from " + usage.window.since.slice(0, 10) + " until " + usage.window.before.slice(0, 10) + " (UTC)";
  drawMoneyChart("chart-revenue-stream", "host-revenue-total", usage.labels, usage.revenue_by_stream);
  drawMoneyChart("chart-revenue-model", null, usage.labels, usage.revenue_by_model);
  drawCountChart("chart-requests", "host-requests-total", usage.labels, usage.requests_by_model, "requests");
  drawCountChart("chart-tokens", "host-tokens-total", usage.labels, usage.tokens_by_model, "tokens");
  $("costs-note").textContent = usage.costs_configured ? "serving cost from the [costs] section of the config"
    : "no serving cost configured: add a [costs] section to the config to see the margin";
  fillTable($("streams"), [
    { title: "stream", value: (s) => s.stream }, { title: "requests", value: (s) => count(s.requests), num: true },
    { title: "tokens", value: (s) => count(s.tokens), num: true },
    { title: "usage charges", value: (s) => moneyList(s.usage), num: true },
    { title: "fees", value: (s) => moneyList(s.fees), num: true },
    { title: "revenue", value: (s) => moneyList(s.revenue), num: true },
    { title: "serving cost", value: (s) => money(s.cost), num: true }, { title: "margin", value: (s) => money(s.margin), num: true },
  ], usage.streams);
  fillTable($("customers"), [
    { title: "customer", value: (c) => c.customer }, { title: "requests", value: (c) => count(c.requests), num: true },
    { title: "tokens", value: (c) => count(c.tokens), num: true },
    { title: "usage charges", value: (c) => moneyList(c.usage), num: true },
    { title: "fees", value: (c) => moneyList(c.fees), num: true },
    { title: "spent", value: (c) => moneyList(c.spent), num: true },
  ], customers.top);
  fillTable($("outstanding"), [
    { title: "account", value: (o) => o.kind === "customer_credit" ? "prepaid credit held" : "owed by customers (receivable)" },
    { title: "total", value: (o) => money(o.balance), num: true },
  ], customers.outstanding, "no credit or receivables");
  fillTable($("accounts"), [
    { title: "customer", value: (a) => a.customer }, { title: "billing", value: (a) => a.billing_mode },
    { title: "prepaid credit", value: (a) => moneyList(a.credit), num: true },
    { title: "receivable", value: (a) => moneyList(a.receivable), num: true },
    { title: "credit limit", value: (a) => money(a.credit_limit), num: true },
  ], customers.accounts, "no customer accounts");
  fillOwed(licensors);
  fillStatements("host-statements", statements.statements, true);
  showCheckpoint(checkpoint.checkpoint);
  showProfile(profile);
}

function fillOwed(owed) {
  const rows = owed.licensors.flatMap((l) => [
    ...l.closed.map((p) => ({ licensor: l.licensor, period: p.period, state: "closed: statement issued", payable: p.payable,
                              title: "statement " + p.statement })),
    ...l.open.map((p) => ({ licensor: l.licensor, period: p.period, payable: p.payable,
                            state: "not settled yet: " + count(p.records) + " records so far, as if it closed now" })),
  ]);
  for (const period of owed.not_previewed) {
    rows.push({ licensor: "every licensor", period, payable: null, state: "not settled, not previewed: settle the older months first" });
  }
  fillTable($("licensors"), [
    { title: "licensor", value: (r) => r.licensor }, { title: "period", value: (r) => r.period },
    { title: "state", value: (r) => r.state }, { title: "owed", value: (r) => money(r.payable), num: true },
  ], rows, "no agreements yet", (r) => r.title || "");
}

function showProfile(profile) {
  const rows = profile.configured
    ? [["legal name", profile.legal_name], ...profile.address.map((line, index) => [index ? "" : "address", line]),
       ["tax id", profile.tax_id || "—"], ["contact", profile.contact || "—"]]
    : [["legal name", "not configured: add a [host] section (legal_name, address, tax_id, contact) to the config; "
                       + "until then invoices name no issuer"]];
  fillTable($("host-profile"), [{ title: "", value: (r) => r[0] }, { title: "", value: (r) => r[1] }], rows);
}

function showCheckpoint(checkpoint) {
  const box = $("checkpoint");
  box.replaceChildren();
  if (!checkpoint) {
    box.append(el("p", "no signed checkpoint yet (run `revstream log init`; checkpoints follow)", "muted"));
    return;
  }
  box.append(el("p", count(checkpoint.size) + " entries, signed " + checkpoint.created + " (root " + checkpoint.root + ")"));
  box.append(el("pre", checkpoint.note, "note"));
}

// The share per period: stacked parts (each model, the minimum top-up, the cap reduction) that
// add up to the statement's share total, and the payable as a line.
async function showLicensor() {
  const [trend, statements] = await Promise.all([api("/licensor/trend"), api("/statements")]);
  const first = trend.currencies[0];
  // Chart.js draws a lower `order` on top: the payable's points over the bars.
  const datasets = first ? [...first.datasets.map((d) => ({ ...d, order: 1 })),
    { ...first.payable, type: "line", stack: "payable", order: 0, pointRadius: 5 }] : [];
  $("licensor-share-total").textContent = first ? "share total " + money(first.share_total.total) + ", payable " + money(first.payable.total) : "";
  drawChart("chart-share", "bar", trend.periods, datasets, moneyOptions(first));
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
    { title: "issued", value: (i) => when(i.issued) },
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
         ["included this window", count(current.tokens_included)], ["used", count(current.tokens_used)],
         ["reserved by running requests", count(current.tokens_reserved)], ["remaining", count(current.tokens_remaining)],
         ["renews", when(current.renews)]]);
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
