// The dashboard's advertiser view (issue 13): an advertiser token sees its campaigns and their
// delivery per day (impressions, clicks, spend, click-through rate) from
// /dashboard/api/advertiser/delivery. Money and rates arrive formatted; nothing here computes them.
"use strict";

async function showAdvertiser() {
  const value = await api("/advertiser/delivery");
  $("advertiser-period").textContent = "month " + value.period + " (UTC)";
  $("advertiser-credit").textContent = moneyList(value.credit);
  fillTable($("advertiser-campaigns"), [
    { title: "campaign", value: (c) => c.campaign_id }, { title: "title", value: (c) => c.title },
    { title: "status", value: (c) => c.status }, { title: "bid", value: (c) => money(c.bid) + " " + c.bid_kind, num: true },
    { title: "impressions", value: (c) => count(c.impressions), num: true },
    { title: "clicks", value: (c) => count(c.clicks), num: true }, { title: "CTR", value: (c) => c.ctr, num: true },
    { title: "spent", value: (c) => money(c.spent), num: true },
  ], value.campaigns, "no campaigns yet: `revstream campaigns add`");
  fillTable($("advertiser-delivery"), [
    { title: "day", value: (d) => d.day }, { title: "campaign", value: (d) => d.title },
    { title: "impressions", value: (d) => count(d.impressions), num: true },
    { title: "clicks", value: (d) => count(d.clicks), num: true },
    { title: "refused clicks", value: (d) => count(d.refused_clicks), num: true },
    { title: "CTR", value: (d) => d.ctr, num: true }, { title: "spend", value: (d) => money(d.spend), num: true },
  ], value.days, "no delivery this month yet");
}

VIEWS.advertiser = showAdvertiser;
