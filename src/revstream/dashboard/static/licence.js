// The dashboard's licence panel (issue 15): "Built with Llama" in the footer of every view (the
// attribution the served models' licences ask for), and for the host and licensor views the
// monthly active users by month against the licence threshold, acceptable use by hazard
// category, and where the attribution is shown. Figures come from /dashboard/api/licence/*;
// nothing here computes them.
"use strict";

(() => {
  const TOKEN_KEY = "revstream.dashboard.token";
  const byId = (id) => document.getElementById(id);

  function node(tag, text, className) {
    const element = document.createElement(tag);
    if (text !== undefined && text !== null) element.textContent = String(text);
    if (className) element.className = className;
    return element;
  }

  // The table, in a box that scrolls sideways when it is wider than the screen.
  function table(id, headers, rows) {
    const element = node("table");
    element.id = id;
    const head = node("tr");
    for (const header of headers) head.append(node("th", header.title, header.num ? "num" : ""));
    element.append(node("thead"));
    element.tHead.append(head);
    const body = node("tbody");
    for (const row of rows) {
      const line = node("tr");
      row.forEach((value, index) => line.append(node("td", value, headers[index].num ? "num" : "")));
      body.append(line);
    }
    if (rows.length === 0) {
      const cell = node("td", "no end users counted yet", "empty");
      cell.colSpan = headers.length;
      body.append(node("tr"));
      body.lastChild.append(cell);
    }
    element.append(body);
    const box = node("div", null, "table-scroll");  // scrolls sideways on a narrow screen
    box.append(element);
    return box;
  }

  const grouped = (value) => Number(value).toLocaleString("en-US");
  // Basis points as a percentage with two decimals, by inserting the point into the digits.
  const percent = (bps) => (bps === null ? "—" : String(Math.floor(bps / 100)) + "." + String(bps % 100).padStart(2, "0") + "%");
  const error = (ppm) => (ppm === 0 ? "exact" : "±" + String(Math.floor(ppm / 10000)) + "." + String(ppm % 10000).padStart(4, "0") + "%");

  async function attribution() {
    const response = await fetch("/dashboard/api/licence/attribution");
    if (!response.ok) return;
    const body = await response.json();
    let footer = byId("licence-attribution");
    if (!footer) {
      footer = node("footer", null, "attribution");
      footer.id = "licence-attribution";
      document.body.append(footer);
    }
    footer.replaceChildren(...body.attribution.map((item) =>
      node("p", item.text + " · " + item.licence + " (" + item.models.join(", ") + ")")));
    footer.hidden = body.attribution.length === 0;
  }

  function render(view, status) {
    const section = byId(view);
    let panel = byId("licence-panel");
    if (!panel) {
      panel = node("div", null, "panel");
      panel.id = "licence-panel";
    }
    section.append(panel);
    const threshold = status.threshold;
    panel.replaceChildren(
      node("h2", "Licence: monthly active users and acceptable use"),
      node("p", threshold ? "threshold " + grouped(threshold.users) + " monthly active users (" + threshold.licence + ")"
        : "no served model's licence sets a monthly-active-user threshold", "muted"),
      table("licence-months", [
        { title: "month" }, { title: "users", num: true }, { title: "error" }, { title: "of threshold", num: true },
        { title: "alerts" }, { title: "classified", num: true }, { title: "flagged", num: true },
        { title: "refused", num: true }, { title: "closed" },
      ], status.months.map((m) => [
        m.month, grouped(m.users), error(m.error_ppm), percent(m.threshold_bps),
        m.alerts_percent.map((p) => p + "%").join(", ") || "—", grouped(m.acceptable_use.classified),
        grouped(m.acceptable_use.flagged), grouped(m.acceptable_use.refused),
        m.closed ? "leaf " + m.closed.log_index + ", " + grouped(m.closed.users) + " users" : "open",
      ])),
    );
    const latest = status.months[0];
    if (latest) {
      panel.append(node("h2", "Acceptable use in " + latest.month + " by hazard category"));
      panel.append(table("licence-categories", [{ title: "category" }, { title: "hazard" }, { title: "requests", num: true }],
        latest.acceptable_use.by_category.map((c) => [c.category, c.name, grouped(c.count)])));
    }
    panel.append(node("h2", "Attribution"));
    panel.append(table("licence-attribution-state", [{ title: "text" }, { title: "licence" }, { title: "models" }, { title: "shown on" }],
      status.attribution.map((a) => [a.text, a.licence, a.models.join(", "), a.shown_on.join(", ")])));
    document.body.dataset.licenceLoaded = "1";
  }

  async function panel() {
    const view = document.body.dataset.view;
    if (document.body.dataset.loaded !== "1" || (view !== "host" && view !== "licensor")) return;
    const response = await fetch("/dashboard/api/licence/status",
      { headers: { Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY) } });
    if (response.ok) render(view, await response.json());
  }

  document.addEventListener("DOMContentLoaded", () => {
    attribution();
    new MutationObserver(() => {
      if (document.body.dataset.loaded === "1" && !document.body.dataset.licenceLoaded) panel();
      if (document.body.dataset.loaded !== "1") delete document.body.dataset.licenceLoaded;
    }).observe(document.body, { attributes: true, attributeFilter: ["data-loaded", "data-view"] });
  });
})();
