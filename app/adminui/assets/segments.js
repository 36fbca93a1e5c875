// Segment builder: conditions in AND/OR groups, a live count, the
// reachability funnel and a sample as the merchant edits.
(function () {
  "use strict";
  var M = window.MUI, el = M.el;
  var D = JSON.parse(document.getElementById("seg-data").textContent);
  var T = function (k) { return D.t[k] || k; };
  var fields = {}; D.fields.forEach(function (f) { fields[f.key] = f; });
  var products = {}, vendors = [];
  var state = { top: "and", groups: [] };
  var current = D.current;
  var groupsBox = document.getElementById("seg-groups");

  function newCond(key) {
    var f = fields[key || "orders_count"];
    return { field: f.key, op: f.ops[0], value: defaultValue(f), within: "" };
  }
  function defaultValue(f) {
    switch (f.type) {
      case "bool": return true;
      case "month": return "current";
      case "product": return [];
      case "kind": return "campaign";
      case "click": return "any";
      default: return "";
    }
  }

  // Definition JSON <-> builder state. Shapes deeper than groups of
  // conditions stay editable as JSON only.
  function leaf(c) {
    var f = fields[c.field], v = c.value;
    if (f.type === "number" || f.type === "money" || f.type === "days") v = Number(v);
    if (f.type === "month" && v !== "current") v = Number(v);
    var n = { field: c.field, op: c.op, value: v };
    if (f.within && c.within !== "" && Number(c.within) > 0) n.within_days = Number(c.within);
    return n;
  }
  function toDef() {
    var gs = state.groups.filter(function (g) { return g.conds.length; }).map(function (g) {
      if (g.conds.length === 1) return leaf(g.conds[0]);
      var o = {}; o[g.op] = g.conds.map(leaf); return o;
    });
    if (gs.length === 1) return gs[0];
    var top = {}; top[state.top] = gs; return top;
  }
  function isLeaf(n) { return n && n.field && fields[n.field]; }
  function condOf(n) {
    var f = fields[n.field];
    var op = n.op || f.ops[0];
    if (f.type === "bool" && op === "") op = "=";
    var v = n.value;
    if (f.type === "product" && !Array.isArray(v)) v = [v];
    return { field: n.field, op: op, value: v, within: n.within_days ? String(n.within_days) : "" };
  }
  function fromDef(d) {
    var list = function (n) { return n.and ? ["and", n.and] : n.or ? ["or", n.or] : null; };
    if (isLeaf(d)) return { top: "and", groups: [{ op: "and", conds: [condOf(d)] }] };
    var l = list(d || {});
    if (!l) return null;
    if (l[1].every(isLeaf)) return { top: "and", groups: l[1].length ? [{ op: l[0], conds: l[1].map(condOf) }] : [] };
    var groups = [];
    for (var i = 0; i < l[1].length; i++) {
      var c = l[1][i];
      if (isLeaf(c)) { groups.push({ op: "and", conds: [condOf(c)] }); continue; }
      var cl = list(c);
      if (!cl || !cl[1].every(isLeaf)) return null;
      groups.push({ op: cl[0], conds: cl[1].map(condOf) });
    }
    return { top: l[0], groups: groups };
  }

  function opLabel(f, op) { return f.type === "date" ? T("opd." + op) : T("op." + op); }
  function unitOf(f) {
    if (f.type === "number") return T("unit.times");
    if (f.type === "days") return T("unit.days");
    if (f.type === "money") return D.currency === "JPY" || !D.currency ? "円" : D.currency;
    return "";
  }

  function valueInput(c, f, changed) {
    var id = "v" + Math.random().toString(36).slice(2, 8);
    var set = function (v) { c.value = v; changed(); };
    switch (f.type) {
      case "number": case "money": case "days":
        return el("span", { className: "row" },
          el("input", { type: "number", min: "0", step: f.type === "money" ? "1" : "1", className: "short", value: c.value, "aria-label": T("field." + f.key), oninput: function () { set(this.value); } }),
          el("span", { className: "muted" }, unitOf(f)));
      case "date":
        return el("input", { type: "date", className: "short date", value: c.value, "aria-label": T("field." + f.key), oninput: function () { set(this.value); } });
      case "bool":
        return el("select", { "aria-label": T("field." + f.key), onchange: function () { set(this.value === "true"); } },
          el("option", { value: "true", selected: c.value === true }, T("segb.yes")),
          el("option", { value: "false", selected: c.value === false }, T("segb.no")));
      case "month":
        var ms = el("select", { "aria-label": T("field." + f.key), onchange: function () { set(this.value); } },
          el("option", { value: "current", selected: c.value === "current" }, T("segb.current_month")));
        for (var m = 1; m <= 12; m++) ms.appendChild(el("option", { value: String(m), selected: String(c.value) === String(m) }, m + T("unit.months")));
        return ms;
      case "kind": case "click":
        var ks = el("select", { "aria-label": T("field." + f.key), onchange: function () { set(this.value); } });
        if (f.type === "click") ks.appendChild(el("option", { value: "any", selected: c.value === "any" }, T("segb.any_click")));
        D.kinds.forEach(function (k) { ks.appendChild(el("option", { value: k, selected: c.value === k }, T("msg." + k))); });
        return ks;
      case "vendor":
        var dl = el("datalist", { id: id });
        vendors.forEach(function (v) { dl.appendChild(el("option", { value: v })); });
        return el("span", {}, el("input", { list: id, value: c.value, "aria-label": T("field." + f.key), oninput: function () { set(this.value); } }), dl);
      case "product":
        return productPicker(c, changed);
      default:
        return el("input", { value: c.value, "aria-label": T("field." + f.key), oninput: function () { set(this.value); } });
    }
  }

  // The product picker: chosen products as removable chips, a search box
  // over what the shop has sold, results as buttons.
  function productPicker(c, changed) {
    var chips = el("span", { className: "chips inline" });
    var results = el("div", { className: "picker-results", role: "listbox" });
    var drawChips = function () {
      chips.textContent = "";
      c.value.forEach(function (pid) {
        var p = products[pid];
        chips.appendChild(el("button", { type: "button", className: "chip", title: T("segb.remove"),
          onclick: function () { c.value = c.value.filter(function (x) { return x !== pid; }); drawChips(); changed(); } },
          (p ? p.title : "#" + pid) + " ×"));
      });
    };
    var timer = null;
    var search = el("input", { type: "search", className: "product-search", placeholder: T("segb.search_product"), "aria-label": T("segb.search_product"),
      oninput: function () {
        var q = this.value; clearTimeout(timer);
        timer = setTimeout(function () {
          M.api("GET", "/api/segments/products?q=" + encodeURIComponent(q)).then(function (d) {
            results.textContent = "";
            (d.products || []).forEach(function (p) {
              products[p.id] = p;
              if (c.value.indexOf(p.id) >= 0) return;
              results.appendChild(el("button", { type: "button", className: "pick", role: "option", dataset: { product: p.id },
                onclick: function () { c.value = c.value.concat([p.id]); drawChips(); results.textContent = ""; search.value = ""; changed(); } },
                p.title, el("span", { className: "muted small" }, " " + (p.vendor || ""))));
            });
            if (!results.childNodes.length) results.appendChild(el("p", { className: "muted small" }, T("segb.no_products")));
          });
        }, 200);
      } });
    drawChips();
    return el("span", { className: "picker" }, chips, search, results);
  }

  function condRow(g, c, idx) {
    var f = fields[c.field];
    var err = el("p", { className: "field-err", role: "alert" });
    c._err = err;
    var fieldSel = el("select", { className: "cond-field", "aria-label": T("segb.add_cond"), onchange: function () {
      var nc = newCond(this.value); g.conds[idx] = nc; draw(); refresh();
    } });
    D.fields.forEach(function (x) { fieldSel.appendChild(el("option", { value: x.key, selected: x.key === c.field }, T("field." + x.key))); });
    var opSel = el("select", { className: "cond-op", "aria-label": "op", onchange: function () { c.op = this.value; refresh(); } });
    f.ops.forEach(function (o) { opSel.appendChild(el("option", { value: o, selected: o === c.op }, opLabel(f, o))); });
    if (f.ops.length === 1) opSel.hidden = true;
    var within = null;
    if (f.within) {
      within = el("span", { className: "row muted" }, T("segb.within"),
        el("input", { type: "number", min: "1", className: "tiny", value: c.within, "aria-label": T("segb.within"), oninput: function () { c.within = this.value; refresh(); } }),
        T("unit.days") + " " + T("segb.within_any"));
    }
    var row = el("div", { className: "cond" },
      el("div", { className: "row wrap" }, fieldSel, opSel, valueInput(c, f, refresh), within,
        el("button", { type: "button", className: "btn icon", "aria-label": T("segb.remove"), title: T("segb.remove"),
          onclick: function () { g.conds.splice(idx, 1); draw(); refresh(); } }, "✕")),
      err);
    return row;
  }

  function draw() {
    groupsBox.textContent = "";
    document.getElementById("seg-top").value = state.top;
    state.groups.forEach(function (g, gi) {
      var box = el("fieldset", { className: "group" },
        el("legend", {}, T("segb.group") + " " + (gi + 1)),
        el("div", { className: "row" },
          el("select", { className: "group-op", "aria-label": T("segb.group") + " " + (gi + 1), onchange: function () { g.op = this.value; refresh(); } },
            el("option", { value: "and", selected: g.op === "and" }, T("segb.group_all")),
            el("option", { value: "or", selected: g.op === "or" }, T("segb.group_any"))),
          el("button", { type: "button", className: "linkbtn", onclick: function () { state.groups.splice(gi, 1); draw(); refresh(); } }, T("segb.remove_group"))));
      if (!g.conds.length) box.appendChild(el("p", { className: "muted small" }, T("segb.empty_group")));
      g.conds.forEach(function (c, ci) { box.appendChild(condRow(g, c, ci)); });
      box.appendChild(el("button", { type: "button", className: "btn add-cond", onclick: function () { g.conds.push(newCond()); draw(); refresh(); focusLast(box); } }, T("segb.add_cond")));
      groupsBox.appendChild(box);
    });
    if (!state.groups.length) groupsBox.appendChild(el("p", { className: "muted" }, T("segb.everyone")));
  }
  function focusLast(box) {
    var sels = groupsBox.querySelectorAll(".cond-field");
    if (sels.length) sels[sels.length - 1].focus();
  }

  // Checks every condition has a value; marks the ones that do not.
  function valid() {
    var ok = true;
    state.groups.forEach(function (g) {
      g.conds.forEach(function (c) {
        var f = fields[c.field], msg = "";
        if (f.type === "product" && !c.value.length) msg = T("segb.need_product");
        else if (c.value === "" || c.value === null) msg = T("segb.need_value");
        if (c._err) c._err.textContent = msg;
        if (msg) ok = false;
      });
    });
    return ok;
  }

  var timer = null, seq = 0;
  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(run, 250);
  }
  function run() {
    var jsonBox = document.getElementById("seg-json");
    if (!valid()) return;
    var def = toDef();
    jsonBox.value = JSON.stringify(def, null, 1);
    countNow(def);
  }
  // Per edit: a quick "about N" first (on a large shop the server
  // answers from a sample; on a small one it answers exactly at once),
  // then the exact count with the sample, then (admins) the funnel, so
  // neither the count nor its estimate waits on the funnel.
  function countNow(def) {
    var mine = ++seq;
    var countEl = document.getElementById("seg-count");
    var funnelEl = document.getElementById("seg-funnel");
    countEl.textContent = T("segb.counting");
    countEl.dataset.state = "loading";
    funnelEl.dataset.state = "loading";
    M.setErr("seg-def-err", "");
    function fail(e) {
      if (mine !== seq) return;
      countEl.textContent = "–"; countEl.dataset.state = "error";
      M.setErr("seg-def-err", e.message);
    }
    function exact(p) {
      if (mine !== seq) return;
      countEl.textContent = M.fmt(T("segb.count_n"), M.num(p.count));
      countEl.dataset.count = p.count;
      countEl.dataset.state = "done";
      drawSample(p.sample || []);
      if (!D.funnel) return;
      M.api("POST", "/api/segments/funnel", { definition: def })
        .then(function (f) {
          if (mine !== seq) return;
          drawFunnel(f);
          funnelEl.dataset.state = "done";
        })
        .catch(function (e) { if (mine === seq) { funnelEl.dataset.state = "error"; M.setErr("seg-def-err", e.message); } });
    }
    M.api("POST", "/api/segments/preview", { definition: def, estimate: true })
      .then(function (p) {
        if (mine !== seq) return;
        if (!p.estimated) return exact(p);
        countEl.textContent = p.under ? M.fmt(T("segb.count_under"), M.num(p.under)) : M.fmt(T("segb.count_about"), M.num(p.count));
        countEl.dataset.estimate = p.count;
        countEl.dataset.state = "estimate";
        return M.api("POST", "/api/segments/preview", { definition: def }).then(exact);
      })
      .catch(fail);
  }
  function drawSample(rows) {
    var tb = document.querySelector("#seg-sample tbody");
    tb.textContent = "";
    rows.forEach(function (m) {
      tb.appendChild(el("tr", {}, el("td", {}, el("a", { href: "/admin/customers/" + m.id }, ((m.last_name || "") + " " + (m.first_name || "")).trim() || "#" + m.id)),
        el("td", {}, m.email || ""), el("td", { className: "num" }, String(m.orders_count))));
    });
    document.getElementById("seg-sample").hidden = !rows.length;
    document.getElementById("seg-sample-none").hidden = !!rows.length;
  }
  function drawFunnel(f) {
    var ol = document.getElementById("seg-funnel");
    ol.textContent = "";
    var top = f.steps.length ? f.steps[0].count : 0;
    f.steps.forEach(function (s) {
      var pct = top ? Math.round(s.count * 100 / top) : 0;
      var label = T("funnel." + s.key) + (s.key === "under_cap" ? " (" + M.fmt(T("segb.cap"), f.daily_cap) + ")" : "");
      ol.appendChild(el("li", { dataset: { step: s.key, count: s.count } },
        el("div", { className: "row" }, el("span", { className: "grow" }, label), el("strong", {}, M.num(s.count)),
          s.lost ? el("span", { className: "muted small lost" }, M.fmt(T("funnel.lost"), M.num(s.lost))) : null),
        el("div", { className: "progress" }, el("span", { style: "width:" + pct + "%" }))));
    });
    var q = document.getElementById("seg-quiet");
    q.textContent = f.quiet_now && f.quiet_until ? M.fmt(T("segb.quiet_now"), new Date(f.quiet_until).toLocaleString()) : "";
  }

  function load(def) {
    var s = fromDef(def);
    if (!s) {
      state = { top: "and", groups: [] };
      draw();
      groupsBox.textContent = "";
      groupsBox.appendChild(el("p", { className: "muted" }, T("segb.json_only")));
      document.getElementById("seg-json").value = JSON.stringify(def, null, 1);
      document.getElementById("seg-json-box").open = true;
      countNow(def);
      return;
    }
    state = s;
    draw();
    run();
  }

  document.getElementById("seg-top").addEventListener("change", function () { state.top = this.value; refresh(); });
  document.getElementById("seg-add-group").addEventListener("click", function () {
    state.groups.push({ op: "and", conds: [newCond()] }); draw(); refresh(); focusLast();
  });
  document.getElementById("seg-json-apply").addEventListener("click", function () {
    var def;
    try { def = JSON.parse(document.getElementById("seg-json").value); } catch (e) { M.setErr("seg-json-err", e.message); return; }
    M.setErr("seg-json-err", "");
    load(def);
  });
  document.querySelectorAll("[data-builtin]").forEach(function (b) {
    b.addEventListener("click", function () {
      var bi = D.builtins.filter(function (x) { return x.key === b.dataset.builtin; })[0];
      var name = document.getElementById("seg-name");
      if (!name.value) name.value = T("seg." + bi.key);
      load(bi.definition);
    });
  });

  function currentDef() {
    if (state.groups.length || !document.getElementById("seg-json-box").open) return toDef();
    try { return JSON.parse(document.getElementById("seg-json").value); } catch (e) { return toDef(); }
  }
  function save(asNew, name) {
    var nameEl = document.getElementById("seg-name");
    name = name || nameEl.value.trim();
    M.setErr("seg-name-err", "");
    if (!name) { M.setErr("seg-name-err", T("segb.need_name")); nameEl.focus(); return; }
    if (!valid()) return;
    var body = { name: name, definition: currentDef() };
    var req = !asNew && current ? M.api("PUT", "/api/segments/" + current.id, body) : M.api("POST", "/api/segments", body);
    req.then(function (s) {
      var r = document.getElementById("seg-result"); r.className = "result ok"; r.textContent = T("segb.saved_ok");
      window.location.href = "/admin/segments?id=" + s.id;
    }).catch(function (e) {
      if (e.status === 409 || /name/.test(e.message)) { M.setErr("seg-name-err", e.message); nameEl.focus(); }
      else M.setErr("seg-def-err", e.message);
    });
  }
  document.getElementById("seg-save").addEventListener("click", function () { save(false); });
  var dup = document.getElementById("seg-dup");
  if (dup) dup.addEventListener("click", function () { save(true, M.fmt(T("segb.copy_of"), current.name)); });
  var del = document.getElementById("seg-delete");
  if (del) del.addEventListener("click", function () {
    if (!window.confirm(T("segb.confirm_delete"))) return;
    M.api("DELETE", "/api/segments/" + current.id).then(function () { window.location.href = "/admin/segments"; })
      .catch(function (e) { M.setErr("seg-def-err", e.message); });
  });

  M.api("GET", "/api/segments/products?q=").then(function (d) {
    (d.products || []).forEach(function (p) { products[p.id] = p; });
    vendors = d.vendors || [];
    if (current) draw();
  }).catch(function () {});
  load(current ? current.definition : { and: [] });
})();
