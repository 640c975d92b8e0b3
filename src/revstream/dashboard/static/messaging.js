// The dashboard's messaging panel (issue 14), host view: the month's business messages per
// channel, category and market, and the conversations with the largest fees: fees, platform
// costs and margin. Figures (and their exact decimal text) come from
// /dashboard/api/messaging/report; nothing here computes them.
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

  function table(id, headers, rows, empty) {
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
      const cell = node("td", empty, "empty");
      cell.colSpan = headers.length;
      body.append(node("tr"));
      body.lastChild.append(cell);
    }
    element.append(body);
    const box = node("div", null, "table-scroll");
    box.append(element);
    return box;
  }

  const money = (line) => [line.fees + " " + line.currency, line.costs + " " + line.currency, line.margin + " " + line.currency];

  function render(report) {
    let panel = byId("messaging-panel");
    if (!panel) {
      panel = node("div", null, "panel");
      panel.id = "messaging-panel";
    }
    byId("host").append(panel);
    panel.replaceChildren(
      node("h2", "Business messaging in " + report.period),
      table("messaging-lines", [
        { title: "channel" }, { title: "category" }, { title: "market" }, { title: "messages", num: true },
        { title: "delivered", num: true }, { title: "failed", num: true }, { title: "fees", num: true },
        { title: "platform costs", num: true }, { title: "margin", num: true },
      ], report.lines.map((l) => [l.channel, l.category, l.market, l.messages, l.delivered, l.failed, ...money(l)]),
      "no messages this month"),
      node("h2", "Conversations by fees"),
      table("messaging-conversations", [
        { title: "conversation" }, { title: "messages", num: true }, { title: "fees", num: true },
        { title: "platform costs", num: true }, { title: "margin", num: true },
      ], report.conversations.slice(0, 20).map((c) => [c.conversation, c.messages, ...money(c)]), "no conversations"),
    );
    document.body.dataset.messagingLoaded = "1";
  }

  async function panel() {
    if (document.body.dataset.loaded !== "1" || document.body.dataset.view !== "host") return;
    const response = await fetch("/dashboard/api/messaging/report",
      { headers: { Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY) } });
    if (response.ok) render(await response.json());
  }

  document.addEventListener("DOMContentLoaded", () => {
    new MutationObserver(() => {
      if (document.body.dataset.loaded === "1" && !document.body.dataset.messagingLoaded) panel();
      if (document.body.dataset.loaded !== "1") delete document.body.dataset.messagingLoaded;
    }).observe(document.body, { attributes: true, attributeFilter: ["data-loaded", "data-view"] });
  });
})();
