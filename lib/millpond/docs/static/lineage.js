/* The lineage graph of the docs site (Cytoscape.js with the dagre layout, vendored).
 *
 * The element #lineage names the table in focus (data-focus; none on the index page,
 * which shows every table). Table nodes are drawn left to right, sources first. A click
 * on a table shows its columns inside it, and column edges replace the table edges
 * wherever a column-level edge is known; a click on a column lights up where it comes
 * from and where it flows. window.MILLPOND_LINEAGE exposes the graph for tests.
 *
 * On the index page (no focus) the whole workspace would be a hairball at first sight: the
 * tables are grouped by layer, each group one node ("silver · 12 tables") with the edges
 * between groups; a click on a group opens it (its tables inside it, their own edges), a
 * click on its frame closes it again; "expand all" opens every group and every table.
 */
(function () {
  "use strict";
  var box = document.getElementById("lineage");
  if (!box || !window.MILLPOND_DOCS || typeof cytoscape !== "function") { return; }
  var graph = window.MILLPOND_DOCS.graph;
  var prefix = box.dataset.prefix || "";
  var focus = box.dataset.focus || null;
  var info = document.getElementById("lineage-info");
  var byId = {};
  var readers = {};
  graph.nodes.forEach(function (node) {
    byId[node.id] = node;
    node.reads.forEach(function (source) { (readers[source] = readers[source] || []).push(node.id); });
  });

  function reach(start, step) {
    var seen = {}; var queue = [start];
    while (queue.length) {
      (step(queue.pop()) || []).forEach(function (next) {
        if (!seen[next]) { seen[next] = true; queue.push(next); }
      });
    }
    return seen;
  }
  var shown = {};
  if (focus && byId[focus]) {
    shown[focus] = true;
    Object.keys(reach(focus, function (id) { return byId[id] ? byId[id].reads : []; })).forEach(function (id) { shown[id] = true; });
    Object.keys(reach(focus, function (id) { return readers[id]; })).forEach(function (id) { shown[id] = true; });
  } else {
    graph.nodes.forEach(function (node) { shown[node.id] = true; });
  }
  var expanded = {};
  var grouped = !focus;  // the index page: layers first, tables on demand
  var opened = {};
  function groupOf(id) {
    var node = byId[id];
    var layer = node ? (node.kind === "file" ? "raw files" : node.layer || "source") : "source";
    return String(layer);
  }
  function groupId(group) { return "group:" + group; }
  function visible(id) { return !grouped || opened[groupOf(id)]; }
  function end(id) { return visible(id) ? id : groupId(groupOf(id)); }

  function columnId(table, column) { return table + "::" + column; }
  function label(id) { return byId[id] && byId[id].kind === "file" ? id.replace(/^.*\//, "") : id; }

  function elements() {
    var items = [];
    var groups = {};
    Object.keys(shown).sort().forEach(function (id) {
      var group = groupOf(id);
      groups[group] = (groups[group] || 0) + 1;
    });
    if (grouped) {
      Object.keys(groups).sort().forEach(function (group) {
        var count = groups[group];
        items.push({group: "nodes", classes: opened[group] ? "group open" : "group",
                    data: {id: groupId(group), label: opened[group] ? group : group + " \u00b7 " + count + (count === 1 ? " table" : " tables"),
                           kind: "group", layer: group, group: group, count: count}});
      });
    }
    Object.keys(shown).sort().forEach(function (id) {
      if (!visible(id)) { return; }
      var node = byId[id] || {id: id, kind: "source", layer: "source", columns: []};
      var data = {id: id, label: label(id), kind: node.kind, layer: node.layer,
                  page: node.page || "", focus: id === focus ? "yes" : "no"};
      if (grouped) { data.parent = groupId(groupOf(id)); }
      items.push({group: "nodes", data: data});
      if (expanded[id]) {
        node.columns.forEach(function (column) {
          items.push({group: "nodes", classes: "column",
                      data: {id: columnId(id, column), parent: id, label: column, kind: "column", table: id, column: column}});
        });
      }
    });
    var covered = {}; var seen = {};
    graph.edges.forEach(function (edge) {
      var from = edge[0], fromColumn = edge[1], to = edge[2], toColumn = edge[3];
      if (!shown[from] || !shown[to] || !visible(from) || !visible(to) || !(expanded[from] || expanded[to])) { return; }
      covered[from + "\u0000" + to] = true;
      var source = expanded[from] ? columnId(from, fromColumn) : from;
      var target = expanded[to] ? columnId(to, toColumn) : to;
      var key = source + "\u0000" + target;
      if (source === target || seen[key]) { return; }
      var pair = from + "\u0000" + fromColumn + "\u0001" + to + "\u0000" + toColumn;
      if (seen[key]) { seen[key].data.pairs.push(pair); return; }
      seen[key] = {group: "edges", classes: "column-edge", data: {id: "c:" + key, source: source, target: target, pairs: [pair]}};
      items.push(seen[key]);
    });
    var between = {};
    Object.keys(shown).forEach(function (to) {
      ((byId[to] || {}).reads || []).forEach(function (from) {
        if (!shown[from] || covered[from + "\u0000" + to]) { return; }
        var source = end(from), target = end(to);
        if (source !== from || target !== to) {  // a closed group stands for its tables
          var key = source + "\u0000" + target;
          if (source !== target && !between[key]) {
            between[key] = true;
            items.push({group: "edges", classes: "group-edge", data: {id: "g:" + key, source: source, target: target}});
          }
          return;
        }
        items.push({group: "edges", data: {id: "t:" + from + "\u0000" + to, source: from, target: to, tables: from + "\u0000" + to}});
      });
    });
    return items;
  }

  var colours = {raw: "#8d6e63", file: "#8d6e63", bronze: "#b7791f", silver: "#718096", gold: "#c59d10",
                 quarantine: "#c53030", quality: "#2f855a", memory: "#a0aec0", source: "#a0aec0"};
  function colour(node) {
    var layer = node.data("layer") || "";
    return colours[layer] || colours[layer.replace(/^.*_/, "")] || "#4a5568";
  }
  var cy = cytoscape({
    container: box,
    elements: elements(),
    wheelSensitivity: 0.3,
    style: [
      {selector: "node", style: {"shape": "round-rectangle", "label": "data(label)", "font-size": 12,
        "text-valign": "center", "text-halign": "center", "width": "label", "height": 26, "padding": "8px",
        "background-color": "#fff", "border-width": 2, "border-color": colour, "color": "#1a202c"}},
      {selector: "node[focus = 'yes']", style: {"background-color": "#ebf4ff", "border-width": 4, "font-weight": "bold"}},
      {selector: ":parent", style: {"text-valign": "top", "text-halign": "center", "padding": "10px",
        "background-color": "#f7fafc"}},
      {selector: "node.column", style: {"shape": "rectangle", "height": 18, "font-size": 10, "border-width": 1,
        "border-color": "#a0aec0", "padding": "4px"}},
      {selector: "edge", style: {"width": 1.5, "line-color": "#a0aec0", "target-arrow-color": "#a0aec0",
        "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.8}},
      {selector: "edge.column-edge", style: {"line-color": "#90cdf4", "target-arrow-color": "#90cdf4"}},
      {selector: "node.group", style: {"font-size": 14, "font-weight": "bold", "height": 34, "border-width": 3,
        "border-style": "double", "background-color": "#f7fafc"}},
      {selector: "node.group.open", style: {"border-style": "dashed", "border-width": 2, "text-valign": "top"}},
      {selector: "edge.group-edge", style: {"width": 2.5}},
      {selector: "node.lit", style: {"border-color": "#dd6b20", "border-width": 3, "background-color": "#fffaf0"}},
      {selector: "edge.lit", style: {"line-color": "#dd6b20", "target-arrow-color": "#dd6b20", "width": 2.5}},
    ],
  });

  // Column lineage, exact: each column's direct sources and dependants, from the recorded SQL.
  var sourcesOf = {}; var dependantsOf = {};
  graph.edges.forEach(function (edge) {
    var from = edge[0] + "\u0000" + edge[1], to = edge[2] + "\u0000" + edge[3];
    (sourcesOf[to] = sourcesOf[to] || []).push(from);
    (dependantsOf[from] = dependantsOf[from] || []).push(to);
  });

  /* Light up where table.column comes from and where it flows: its columns where a table
     shows them, else the table; an edge only where a column edge joins two lit columns. */
  function light(table, column) {
    var start = table + "\u0000" + column;
    var keys = reach(start, function (key) { return sourcesOf[key]; });
    Object.assign(keys, reach(start, function (key) { return dependantsOf[key]; }));
    keys[start] = true;
    var litIds = {}; var litTables = {};
    Object.keys(keys).forEach(function (key) {
      var parts = key.split("\u0000");
      if (shown[parts[0]]) { litIds[expanded[parts[0]] ? columnId(parts[0], parts[1]) : parts[0]] = true; }
      (sourcesOf[key] || []).forEach(function (source) {
        if (keys[source]) { litTables[source.split("\u0000")[0] + "\u0000" + parts[0]] = true; }
      });
    });
    cy.elements().removeClass("lit");
    cy.nodes().filter(function (n) { return litIds[n.id()]; }).addClass("lit");
    cy.edges().filter(function (e) {
      if (e.data("tables")) { return Boolean(litTables[e.data("tables")]); }
      return e.data("pairs").some(function (pair) {
        var ends = pair.split("\u0001");
        return keys[ends[0]] && keys[ends[1]];
      });
    }).addClass("lit");
    return Object.keys(litIds).sort();
  }

  function layout() {
    cy.layout({name: "dagre", rankDir: "LR", nodeSep: 14, rankSep: 70, padding: 16, animate: false}).run();
    cy.fit(undefined, 16);
  }
  function redraw() { cy.elements().remove(); cy.add(elements()); layout(); }
  function say(html) { if (info) { info.innerHTML = html; } }
  function escapeHtml(text) {
    return String(text).replace(/[&<>"]/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;"}[c]; });
  }

  var lastTap = null;
  cy.on("tap", "node", function (event) {
    var node = event.target;
    if (lastTap && lastTap[0] === event.timeStamp && lastTap[1] === node) { return; }  // bubbled to its group
    lastTap = [event.timeStamp, node];
    if (node.data("kind") === "group") {
      var group = node.data("group");
      if (opened[group]) { delete opened[group]; } else { opened[group] = true; }
      redraw();
      say("Layer <b>" + escapeHtml(group) + "</b> " + (opened[group] ? "opened: click a table for its columns, its frame to close it" : "closed"));
      return;
    }
    if (node.data("kind") === "column") {
      light(node.data("table"), node.data("column"));
      say("Column <b>" + escapeHtml(node.data("table") + "." + node.data("column")) + "</b>: where it comes from and where it flows are highlighted.");
      return;
    }
    var id = node.id();
    if (expanded[id]) { delete expanded[id]; } else if ((byId[id] || {columns: []}).columns.length) { expanded[id] = true; }
    redraw();
    var page = byId[id] && byId[id].page;
    say("<b>" + escapeHtml(id) + "</b>" + (page ? " · <a href=\"" + prefix + page + "\">open its page</a>" : "") +
        " · click it again to " + (expanded[id] ? "hide" : "show") + " its columns");
  });

  function setAll(open) {
    expanded = {};
    opened = {};
    if (open) {
      Object.keys(shown).forEach(function (id) {
        opened[groupOf(id)] = true;
        if (byId[id] && byId[id].columns.length) { expanded[id] = true; }
      });
    }
    redraw();
  }
  var expandAll = document.getElementById("lineage-expand");
  var collapseAll = document.getElementById("lineage-collapse");
  if (expandAll) { expandAll.addEventListener("click", function () { setAll(true); }); }
  if (collapseAll) { collapseAll.addEventListener("click", function () { setAll(false); }); }
  layout();
  box.dataset.rendered = "ok";
  window.MILLPOND_LINEAGE = {
    cy: cy,
    tables: function () { return cy.nodes().filter(function (n) { return n.data("kind") !== "column" && n.data("kind") !== "group"; }).map(function (n) { return n.id(); }).sort(); },
    groups: function () { return cy.nodes("node.group").map(function (n) { return n.data("label"); }).sort(); },
    columns: function (table) { return cy.nodes("node.column").filter(function (n) { return n.data("table") === table; }).map(function (n) { return n.data("column"); }); },
    edges: function () { return cy.edges().map(function (e) { return [e.source().id(), e.target().id()]; }); },
    upstream: function (id) { return cy.getElementById(id || focus).predecessors("node").map(function (n) { return n.id(); }).sort(); },
    toggle: function (id) { cy.getElementById(id).emit("tap"); },
    lit: function () { return cy.nodes(".lit").map(function (n) { return n.id(); }).sort(); },
  };
})();
