// The 360° page: every figure comes from the API with the staff member's own key, kept in this
// tab's sessionStorage (gone when the tab closes) and sent as a header, never as a cookie, so no
// other site can make the browser use it. Values are written with textContent only: data never
// becomes markup, and the page's Content-Security-Policy allows no script but this file.
"use strict";

const KEY_STORAGE = "cdp-api-key";
const $ = (id) => document.getElementById(id);

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function show(id, message, isError) {
  const node = $(id);
  node.textContent = message || "";
  node.className = isError ? "error" : "";
}

async function api(path) {
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (!key) throw new Error("enter an API key first");
  const response = await fetch(path, { headers: { "X-API-Key": key, Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) {
    const error = body.error || {};
    throw new Error(`${error.message || response.statusText} (${response.status}, request ${error.request_id || "?"})`);
  }
  return body;
}

// ISO date-times as PostgreSQL's JSON gives them, shown as the wall-clock time they are, to the second.
const clock = (text) => String(text || "").replace("T", " ").replace(/\.\d+$/, "");

function describeList(target, pairs) {
  target.replaceChildren();
  for (const [label, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    target.append(element("dt", label), element("dd", Array.isArray(value) ? value.join(", ") : value));
  }
}

async function search(text) {
  show("message", "Searching…");
  $("results").replaceChildren();
  const answer = await api(`/v1/search?q=${encodeURIComponent(text)}`);
  const notes = answer.not_identifiers.map((item) => `${item.id_type}: ${item.message}`);
  if (answer.results.length === 0) {
    show("message", ["Nobody found.", ...notes].join(" "), notes.length > 0);
    return;
  }
  show("message", `${answer.results.length} found`);
  for (const hit of answer.results) {
    const item = element("li");
    const button = element("button", `${hit.name || "(no name)"} · ${hit.one_id}`, "result");
    button.dataset.oneId = hit.one_id;
    button.addEventListener("click", () => openProfile(hit.one_id));
    const where = [hit.mobile_masked, hit.city, `matched by ${hit.matched_by.join(", ")}`].filter(Boolean);
    item.append(button, element("span", where.join(" · "), "muted"));
    $("results").append(item);
  }
  if (answer.results.length === 1) await openProfile(answer.results[0].one_id);
}

function renderTags(groups) {
  const target = $("tags");
  target.replaceChildren();
  if (groups.length === 0) target.append(element("p", "No tags for this day.", "muted"));
  for (const group of groups) {
    const section = element("div", null, "tag-group");
    section.dataset.category = group.category;
    section.append(element("h4", group.category));
    const list = element("ul", null, "chips");
    for (const tag of group.tags) {
      const chip = element("li", null, "tag");
      chip.dataset.tagCode = tag.tag_code;
      chip.title = `${tag.tag_code} · ${tag.category_path || ""}`;
      chip.append(element("span", tag.name_zh || tag.name_en || tag.tag_code, "tag-name"),
                  element("span", tag.tag_value, "tag-value"));
      list.append(chip);
    }
    section.append(list);
    target.append(section);
  }
}

function renderTimeline(orders, events) {
  const entries = [
    ...orders.map((order) => ({
      at: order.order_at, kind: "order",
      title: `${order.order_type === "return" ? "Return" : "Order"} ${order.order_id || order.order_key}`,
      detail: [order.channel_name || order.platform || order.order_source, order.order_status,
               order.item_count !== null ? `${order.item_count} items` : null,
               order.net_paid_amount !== null ? `¥${Number(order.net_paid_amount).toFixed(2)}` : null],
    })),
    ...events.map((event) => ({
      at: event.event_at, kind: "event",
      title: event.event_type,
      detail: [event.channel_name || event.app_id, event.sku_name || event.sku_id, event.search_keyword, event.page],
    })),
  ].sort((a, b) => String(b.at).localeCompare(String(a.at)));
  const target = $("timeline");
  target.replaceChildren();
  if (entries.length === 0) target.append(element("li", "No orders or events.", "muted"));
  for (const entry of entries) {
    const item = element("li", null, `timeline-${entry.kind}`);
    item.append(element("time", clock(entry.at)), element("strong", entry.title),
                element("span", entry.detail.filter(Boolean).join(" · "), "muted"));
    target.append(item);
  }
}

async function openProfile(oneId) {
  show("message", "Loading…");
  const view = await api(`/v1/profiles/${encodeURIComponent(oneId)}`);
  const golden = view.profile;
  $("profile-title").textContent = `${golden.name || "(no name)"} · ${view.one_id}`;
  $("profile-note").textContent = view.merged
    ? `${view.merged.from} was merged into ${view.one_id} on ${view.merged.merged_ds}.` : "";
  describeList($("golden"), [
    ["member", golden.member_id], ["gender", golden.gender], ["birthday", golden.birthday],
    ["mobile", golden.mobile_masked], ["email", golden.email_masked], ["unionid", golden.wx_unionid],
    ["city", [golden.province, golden.city].filter(Boolean).join(" ")], ["sources", golden.sources],
    ["first seen", clock(golden.first_seen)], ["last seen", clock(golden.last_seen)],
  ]);
  const rfm = view.rfm || {};
  const lifecycle = view.lifecycle || {};
  describeList($("value"), [
    ["lifecycle", lifecycle.stage ? `${lifecycle.stage} since ${lifecycle.stage_since}` : null],
    ["orders", lifecycle.order_count], ["last order", lifecycle.last_order_date],
    ["RFM", rfm.rfm_segment ? `${rfm.rfm_segment_name || rfm.rfm_segment} (R${rfm.r_score} F${rfm.f_score} M${rfm.m_score})` : null],
    ["recency", rfm.recency_days !== undefined ? `${rfm.recency_days} days` : null],
    ["frequency", rfm.frequency], ["monetary", rfm.monetary !== undefined ? `¥${rfm.monetary}` : null],
  ]);
  $("segments").replaceChildren(...view.segments.map((segment) => element("li", segment)));
  describeList($("identifiers"), Object.entries(view.identifiers).map(
    ([type, values]) => [type, values.map((value) => value.id_value)]));
  renderTags(view.tags);
  renderTimeline(view.orders, view.events);
  $("profile").hidden = false;
  show("message", `as of ${Object.values(view.published)[0]?.ds || "?"}`);
}

function failed(error) {
  show("message", error.message, true);
}

document.addEventListener("DOMContentLoaded", () => {
  const remembered = sessionStorage.getItem(KEY_STORAGE);
  $("key-state").textContent = remembered ? "key set for this tab" : "no key";
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
    $("api-key").value = "";
    $("key-state").textContent = "key set for this tab";
  });
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("profile").hidden = true;
    search($("search").value).catch(failed);
  });
});
