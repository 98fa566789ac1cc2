/* The docs site's search box and charts.
 *
 * Search: every #search input looks through window.MILLPOND_DOCS (written to
 * assets/data.js) for tables and columns whose name, description, owner or tags
 * contain the text, and lists them in #search-results with links to their pages.
 * Charts: each .mp-chart div names the JSON script holding its Vega-Lite spec.
 */
(function () {
  "use strict";
  var docs = window.MILLPOND_DOCS;
  var input = document.getElementById("search");
  var list = document.getElementById("search-results");
  var prefix = document.body.dataset.prefix || "";
  var LIMIT = 50;

  function contains(value, needle) { return value != null && String(value).toLowerCase().indexOf(needle) >= 0; }
  function anyTag(tags, needle) { return (tags || []).some(function (tag) { return contains(tag, needle); }); }

  function search(text) {
    var needle = text.trim().toLowerCase();
    var hits = [];
    if (!needle || !docs) { return hits; }
    docs.tables.forEach(function (table) {
      if (contains(table.name, needle) || contains(table.description, needle) || contains(table.owner, needle) || anyTag(table.tags, needle)) {
        hits.push({kind: "table", name: table.name, page: table.page, note: table.description || table.layer});
      }
      table.columns.forEach(function (column) {
        if (contains(column.name, needle) || contains(column.description, needle) || anyTag(column.tags, needle)) {
          hits.push({kind: "column", name: table.name + "." + column.name, page: table.page + "#column-" + column.name,
                     note: [column.type, column.description, (column.tags || []).join(", ")].filter(Boolean).join(" · ")});
        }
      });
    });
    return hits;
  }

  function show(hits, text) {
    list.innerHTML = "";
    list.hidden = !text.trim();
    if (!text.trim()) { return; }
    if (!hits.length) {
      var none = document.createElement("li");
      none.className = "none";
      none.textContent = "Nothing matches \u201c" + text.trim() + "\u201d";
      list.appendChild(none);
      return;
    }
    hits.slice(0, LIMIT).forEach(function (hit) {
      var item = document.createElement("li");
      item.dataset.kind = hit.kind;
      var link = document.createElement("a");
      link.href = prefix + hit.page;
      link.textContent = hit.name;
      var badge = document.createElement("span");
      badge.className = "badge muted";
      badge.textContent = hit.kind;
      var note = document.createElement("span");
      note.className = "note";
      note.textContent = hit.note || "";
      item.append(badge, link, note);
      list.appendChild(item);
    });
    if (hits.length > LIMIT) {
      var more = document.createElement("li");
      more.className = "none";
      more.textContent = (hits.length - LIMIT) + " more: type more to narrow it down";
      list.appendChild(more);
    }
  }

  if (input && list) {
    input.addEventListener("input", function () { show(search(input.value), input.value); });
    input.addEventListener("keydown", function (event) {
      var first = list.querySelector("a");
      if (event.key === "Enter" && first) { window.location.href = first.href; }
      if (event.key === "Escape") { input.value = ""; show([], ""); }
    });
  }
  window.MILLPOND_SEARCH = search;

  document.querySelectorAll(".mp-chart[data-spec]").forEach(function (div) {
    function fail(error) {
      div.dataset.rendered = "error";
      div.textContent = "This chart could not be drawn: " + error;
      console.error("millpond: chart " + div.id + " could not be drawn: " + error);
    }
    if (typeof vegaEmbed !== "function") { fail("vega-embed is missing"); return; }
    try {
      var spec = JSON.parse(document.getElementById(div.dataset.spec).textContent);
      vegaEmbed(div, spec, {actions: false, renderer: "svg"}).then(function () { div.dataset.rendered = "ok"; }, fail);
    } catch (error) { fail(error); }
  });
})();
