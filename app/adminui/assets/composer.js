// Campaign composer: audience with forecast, message forms with a LINE-like
// preview, A/B variants, test send to staff, send now or schedule, confirm.
(function () {
  "use strict";
  var M = window.MUI, el = M.el;
  var D = JSON.parse(document.getElementById("c-data").textContent);
  var T = function (k) { return D.t[k] || k; };
  var $ = function (id) { return document.getElementById(id); };
  var variants = [newVariant("A")];
  var forecast = null;

  function newVariant(name) { return { name: name, kind: "text", text: "", title: "", body: "", code: "", button: "", image: "", json: "", link: "" }; }

  // The LINE messages a variant sends; throws {field, msg} when incomplete.
  function messagesOf(v) {
    var need = function (field, ok, msg) { if (!ok) throw { variant: v.name, field: field, msg: msg || T("segb.need_value") }; };
    if (v.link) need("link", /^https:\/\/\S+$/.test(v.link), T("cmp.need_https"));
    var button = v.link ? { type: "box", layout: "vertical", contents: [{ type: "button", style: "primary", color: "#06C755",
      action: { type: "uri", label: (v.button || T("cmp.default_button")).slice(0, 40), uri: "{{link}}" } }] } : null;
    switch (v.kind) {
      case "text":
        need("text", v.text.trim() !== "");
        var text = v.text;
        if (v.link && text.indexOf("{{link}}") < 0) text += "\n{{link}}";
        return [{ type: "text", text: text }];
      case "coupon": case "image":
        need("title", v.title.trim() !== "");
        if (v.kind === "image") need("image", /^https:\/\/\S+$/.test(v.image), T("cmp.need_https"));
        var body = [{ type: "text", text: v.title, weight: "bold", size: "xl", wrap: true }];
        if (v.body.trim()) body.push({ type: "text", text: v.body, wrap: true, size: "sm", color: "#555555" });
        if (v.kind === "coupon") {
          need("code", v.code.trim() !== "");
          body.push({ type: "box", layout: "vertical", backgroundColor: "#F5F5F5", cornerRadius: "md", paddingAll: "md",
            contents: [{ type: "text", text: v.code, weight: "bold", size: "lg", align: "center", color: "#06C755" }] });
        }
        var bubble = { type: "bubble", body: { type: "box", layout: "vertical", spacing: "md", contents: body } };
        if (v.kind === "image") bubble.hero = { type: "image", url: v.image, size: "full", aspectRatio: "20:13", aspectMode: "cover" };
        if (button) bubble.footer = button;
        return [{ type: "flex", altText: v.title.slice(0, 400), contents: bubble }];
      default:
        var parsed;
        try { parsed = JSON.parse(v.json); } catch (e) { need("json", false, e.message); }
        return Array.isArray(parsed) ? parsed : [parsed];
    }
  }
  function withLink(msgs, link) {
    return JSON.parse(JSON.stringify(msgs).split("{{link}}").join(link || D.shop_url));
  }

  function field(v, key, label, input) {
    var err = el("p", { className: "field-err", role: "alert", dataset: { variant: v.name, field: key } });
    input.setAttribute("aria-label", label + " (" + v.name + ")");
    input.dataset.variant = v.name; input.dataset.field = key;
    input.value = v[key];
    input.addEventListener("input", function () { v[key] = input.value; err.textContent = ""; preview(); });
    return el("label", {}, label, input, err);
  }
  function drawVariants() {
    var box = $("c-variants");
    box.textContent = "";
    variants.forEach(function (v) {
      var kind = el("select", { className: "v-kind", dataset: { variant: v.name }, "aria-label": T("cmp.kind") + " " + v.name,
        onchange: function () { v.kind = this.value; drawVariants(); preview(); } });
      ["text", "coupon", "image", "json"].forEach(function (k) { kind.appendChild(el("option", { value: k, selected: v.kind === k }, T("cmp.kind_" + k))); });
      var card = el("div", { className: "variant" }, variants.length > 1 ? el("h3", {}, T("cmp.variant") + " " + v.name) : null,
        el("label", {}, T("cmp.kind"), kind));
      if (v.kind === "text") card.appendChild(field(v, "text", T("cmp.text"), el("textarea", { rows: 4, maxLength: 5000 })));
      if (v.kind === "coupon" || v.kind === "image") {
        if (v.kind === "image") card.appendChild(field(v, "image", T("cmp.image_url"), el("input", { type: "url", placeholder: "https://" })));
        card.appendChild(field(v, "title", T("cmp.title_f"), el("input", { maxLength: 100 })));
        card.appendChild(field(v, "body", T("cmp.body"), el("textarea", { rows: 3, maxLength: 1000 })));
        if (v.kind === "coupon") card.appendChild(field(v, "code", T("cmp.code"), el("input", { maxLength: 50 })));
        card.appendChild(field(v, "button", T("cmp.button"), el("input", { maxLength: 40, placeholder: T("cmp.default_button") })));
      }
      if (v.kind === "json") card.appendChild(field(v, "json", T("cmp.json"), el("textarea", { rows: 8, className: "mono", spellcheck: false })));
      card.appendChild(field(v, "link", T("cmp.link"), el("input", { type: "url", placeholder: D.shop_url + "/collections/sale" })));
      card.appendChild(el("p", { className: "muted small" }, T("cmp.link_help")));
      box.appendChild(card);
    });
  }
  function preview() {
    var target = $("c-preview");
    target.textContent = "";
    variants.forEach(function (v) {
      var part = el("div", { className: "pv", dataset: { variant: v.name } });
      if (variants.length > 1) target.appendChild(el("p", { className: "muted small" }, T("cmp.variant") + " " + v.name));
      try { window.LineView.render(part, withLink(messagesOf(v), v.link)); }
      catch (e) { part.appendChild(el("p", { className: "muted small" }, T("cmp.preview_empty"))); }
      target.appendChild(part);
    });
  }
  function showErrors(e) {
    var p = document.querySelector('.field-err[data-variant="' + e.variant + '"][data-field="' + e.field + '"]');
    if (p) p.textContent = e.msg;
    var i = document.querySelector('[data-variant="' + e.variant + '"][data-field="' + e.field + '"]');
    if (i && i.focus) i.focus();
  }

  function segmentRef() {
    var v = $("c-segment").value;
    if (v.indexOf("s:") === 0) return { segment_id: Number(v.slice(2)) };
    if (v.indexOf("b:") === 0) return { builtin: v.slice(2) };
    return null;
  }
  function loadForecast() {
    var ref = segmentRef(), box = $("c-forecast");
    forecast = null;
    M.setErr("c-segment-err", "");
    if (!ref) { box.hidden = true; return; }
    var fq = $("c-account") ? "?channel=" + encodeURIComponent($("c-account").value) : "";
    M.api("POST", "/api/campaigns/forecast" + fq, ref).then(function (d) {
      forecast = d;
      var f = d.forecast, quota = f.quota_remaining === undefined || f.quota_remaining === null ? T("cmp.quota_unknown") : M.num(f.quota_remaining);
      box.className = "forecast" + (f.over_quota ? " over" : "");
      box.textContent = "";
      box.appendChild(el("p", {}, el("strong", { id: "c-recipients", dataset: { n: f.recipients } }, M.fmt(T("cmp.recipients"), M.num(f.recipients))),
        " · " + M.fmt(T("cmp.cost"), M.num(Math.round(f.cost_yen)), f.yen_per_message)));
      box.appendChild(el("p", { className: "small" }, M.fmt(T("cmp.in_segment"), M.num(d.funnel.steps[0].count)) + " · " + T("cmp.quota") + " " + quota));
      if (f.over_quota) box.appendChild(el("p", { className: "small" }, T("cmp.over_quota")));
      box.hidden = false;
    }).catch(function (e) { M.setErr("c-segment-err", e.message); box.hidden = true; });
  }

  function loadStaff(pending) {
    return M.api("GET", "/api/staff-lines").then(function (d) {
      var sel = $("c-staff"), prev = sel.value;
      sel.textContent = "";
      var linked = (d.staff_lines || []).filter(function (s) { return s.linked_at; });
      linked.forEach(function (s) { sel.appendChild(el("option", { value: s.id, selected: String(s.id) === prev }, s.name)); });
      if (!linked.length) { sel.appendChild(el("option", { value: "" }, T("cmp.no_staff"))); $("c-link-staff").open = true; }
      $("c-test-send").disabled = !linked.length;
      if (pending && !linked.some(function (s) { return s.id === pending; })) setTimeout(function () { loadStaff(pending); }, 2000);
      else if (pending) { $("c-staff-howto").hidden = true; $("c-test-result").className = "result ok"; $("c-test-result").textContent = T("cmp.staff_linked"); }
    });
  }
  $("c-staff-code").addEventListener("click", function () {
    M.setErr("c-staff-err", "");
    M.api("POST", "/api/staff-lines", { name: $("c-staff-name").value }).then(function (s) {
      $("c-code").textContent = s.code; $("c-staff-howto").hidden = false;
      loadStaff(s.id);
    }).catch(function (e) { M.setErr("c-staff-err", e.message); $("c-staff-name").focus(); });
  });
  $("c-test-send").addEventListener("click", function () {
    M.setErr("c-test-err", ""); $("c-test-result").textContent = ""; $("c-test-result").className = "result";
    var v = variants[0], msgs;
    try { msgs = messagesOf(v); } catch (e) { showErrors(e); return; }
    var tb = { staff_line_id: Number($("c-staff").value), messages: msgs, link: v.link };
    if ($("c-account")) tb.line_channel_id = Number($("c-account").value);
    M.api("POST", "/api/campaigns/test", tb).then(function (d) {
      $("c-test-result").className = "result ok"; $("c-test-result").textContent = M.fmt(T("cmp.test_sent"), d.sent_to);
    }).catch(function (e) { M.setErr("c-test-err", e.message); });
  });

  function build() {
    ["c-name-err", "c-segment-err", "c-at-err", "c-test-pct-err", "c-submit-err"].forEach(function (id) { M.setErr(id, ""); });
    document.querySelectorAll("#c-variants .field-err").forEach(function (p) { p.textContent = ""; });
    var body = segmentRef();
    if (!body) { M.setErr("c-segment-err", T("cmp.need_segment")); $("c-segment").focus(); return null; }
    body.name = $("c-name").value.trim();
    if (!body.name) { M.setErr("c-name-err", T("segb.need_name")); $("c-name").focus(); return null; }
    body.variants = [];
    for (var i = 0; i < variants.length; i++) {
      try { body.variants.push({ name: variants[i].name, weight: 1, messages: messagesOf(variants[i]), link: variants[i].link }); }
      catch (e) { showErrors(e); return null; }
    }
    if (variants.length > 1) {
      var pct = Number($("c-test-pct").value);
      if (!(pct >= 10 && pct <= 100)) { M.setErr("c-test-pct-err", T("cmp.need_pct")); $("c-test-pct").focus(); return null; }
      body.test_percent = pct;
    }
    body.coupon_code = $("c-coupon").value.trim();
    if ($("c-account")) body.line_channel_id = Number($("c-account").value);
    if ($("c-per-recipient") && $("c-per-recipient").checked) body.delivery = "push";
    if (document.querySelector("input[name=when]:checked").value === "later") {
      var at = $("c-at").value ? new Date($("c-at").value) : null;
      if (!at || isNaN(at) || at.getTime() < Date.now()) { M.setErr("c-at-err", T("cmp.need_future")); $("c-at").focus(); return null; }
      body.scheduled_at = at.toISOString();
    } else {
      body.send = true;
    }
    return body;
  }
  var pending = null;
  $("c-review").addEventListener("click", function () {
    pending = build();
    if (!pending) return;
    var dl = $("c-summary");
    dl.textContent = "";
    var row = function (k, v) { dl.appendChild(el("dt", {}, k)); dl.appendChild(el("dd", {}, v)); };
    row(T("camp.segment"), $("c-segment").selectedOptions[0].textContent);
    if (forecast) {
      row(T("cmp.reach"), M.fmt(T("cmp.recipients"), M.num(forecast.forecast.recipients)));
      row(T("cmp.cost_label"), "¥" + M.num(Math.round(forecast.forecast.cost_yen)));
      row(T("cmp.quota"), forecast.forecast.quota_remaining == null ? T("cmp.quota_unknown") : M.num(forecast.forecast.quota_remaining));
    }
    if (pending.variants.length > 1) row("A/B", M.fmt(T("cmp.ab_summary"), pending.test_percent));
    row(T("cmp.when"), pending.scheduled_at ? new Date(pending.scheduled_at).toLocaleString() : T("cmp.now"));
    $("c-go").textContent = pending.scheduled_at ? T("cmp.schedule_go") : T("cmp.send_go");
    $("c-confirm").hidden = false;
    $("c-go").focus();
  });
  $("c-back").addEventListener("click", function () { $("c-confirm").hidden = true; $("c-review").focus(); });
  $("c-go").addEventListener("click", function () {
    if (!pending) return;
    $("c-go").disabled = true;
    M.api("POST", "/api/campaigns", pending).then(function (c) { window.location.href = "/admin/campaigns/" + c.id; })
      .catch(function (e) { $("c-go").disabled = false; M.setErr("c-submit-err", e.message); });
  });

  $("c-ab").addEventListener("change", function () {
    $("c-ab-opts").hidden = !this.checked;
    variants = this.checked ? [variants[0], variants[1] || newVariant("B")] : [variants[0]];
    drawVariants(); preview();
  });
  document.querySelectorAll("input[name=when]").forEach(function (r) {
    r.addEventListener("change", function () { $("c-at").disabled = this.value !== "later" || !this.checked; if (!$("c-at").disabled) $("c-at").focus(); });
  });
  $("c-segment").addEventListener("change", loadForecast);
  if ($("c-account")) $("c-account").addEventListener("change", loadForecast);
  drawVariants(); preview(); loadForecast(); loadStaff();
})();
