// Rich menus: the list with each menu's sync state, and the editor — image
// upload checked against LINE's rules, tap areas drawn on the image or typed,
// actions, audience and priority, and a phone-frame preview.
(function () {
  "use strict";
  var M = window.MUI, el = M.el;
  var D = JSON.parse(document.getElementById("rm-data").textContent);
  var T = D.t, R = D.rules, menus = D.menus || [];
  var $ = function (id) { return document.getElementById(id); };
  var editor = $("rm-editor"), canvas = $("rm-canvas"), areasBox = $("rm-areas");
  // st is the menu being edited: img {src, w, h, data} (data "" when the
  // edited menu's image is kept), areas [{x, y, w, h, type, value, label}].
  var st = null;

  function t(k) { return T["rm." + k] || k; }
  function say(ok, text) { var r = $("rm-result"); r.className = "result " + (ok ? "ok" : "err"); r.textContent = text; }

  // --- list: sync state, polled until every menu is linked ----------------
  function stateCell(m) {
    var td = document.querySelector('#rm-list tr[data-id="' + m.id + '"] td[data-state]');
    if (!td) return;
    td.dataset.state = m.sync_state;
    td.textContent = "";
    td.appendChild(el("span", { className: "badge st-" + (m.sync_state === "linked" ? "sent" : "pending") }, t("st_" + m.sync_state)));
    if (m.line_default) td.appendChild(el("span", { className: "badge info" }, t("is_default")));
    if (m.synced_at) td.appendChild(el("div", { className: "muted small" }, t("synced_at") + " " + m.synced_at.slice(0, 16).replace("T", " ") + " UTC"));
    if (m.last_error) td.appendChild(el("p", { className: "reason", dataset: { error: "" } }, m.last_error));
    var users = document.querySelector('#rm-list tr[data-id="' + m.id + '"] td[data-users]');
    if (users) users.textContent = M.num(m.users);
  }
  var polls = 0, timer = null;
  function poll(force) {
    clearTimeout(timer);
    if (force) polls = 0;
    M.api("GET", "/api/richmenus").then(function (d) {
      menus = d.rich_menus || [];
      menus.forEach(stateCell);
      var busy = menus.some(function (m) { return m.sync_state !== "linked" && !m.last_error; });
      if ((busy || polls < 3) && ++polls < 80) timer = setTimeout(poll, 1500);
    }).catch(function () { timer = setTimeout(poll, 5000); });
  }
  if (menus.length) poll(true);
  $("rm-resync").addEventListener("click", function () {
    M.api("POST", "/api/richmenus/sync").then(function () { say(true, t("resync_queued")); poll(true); })
      .catch(function (e) { say(false, e.message); });
  });
  document.querySelectorAll("[data-delete]").forEach(function (b) {
    b.addEventListener("click", function () {
      if (!b.dataset.sure) { b.dataset.sure = "1"; b.textContent = t("delete_sure"); return; }
      M.api("DELETE", "/api/richmenus/" + b.dataset.delete).then(function () { location.search = "?deleted=1"; })
        .catch(function (e) { say(false, e.message); });
    });
  });
  if (/deleted=1/.test(location.search)) say(true, t("deleted"));
  if (/saved=1/.test(location.search)) say(true, t("saved"));

  // --- editor -------------------------------------------------------------
  function open(m) {
    document.querySelectorAll(".field-err").forEach(function (p) { p.textContent = ""; });
    st = { id: 0, img: null, areas: [], sel: -1 };
    $("rm-image").value = "";
    $("rm-name").value = ""; $("rm-chat").value = "メニュー"; $("rm-selected").checked = true;
    $("rm-priority").value = 0;
    setAudience("default");
    if ($("rm-account")) $("rm-account").value = $("rm-account").getAttribute("data-primary");
    $("rm-editor-title").textContent = t("new");
    if (m) {
      var def = m.definition || {};
      st.id = m.id;
      st.img = { src: "/api/richmenus/" + m.id + "/image", w: def.size.width, h: def.size.height, data: "" };
      st.areas = (def.areas || []).map(function (a) {
        var act = a.action || {};
        return { x: a.bounds.x, y: a.bounds.y, w: a.bounds.width, h: a.bounds.height, type: act.type, label: act.label || "",
          value: act.type === "uri" ? act.uri : act.type === "message" ? act.text : act.data };
      });
      $("rm-name").value = def.name || m.name; $("rm-chat").value = def.chatBarText || "";
      $("rm-selected").checked = !!def.selected; $("rm-priority").value = m.priority;
      setAudience(m.audience, m.segment_id);
      if ($("rm-account") && m.channel_id) $("rm-account").value = String(m.channel_id);
      $("rm-editor-title").textContent = t("edit") + ": " + m.name;
    }
    editor.hidden = false;
    draw();
    $("rm-image").focus();
  }
  $("rm-new").addEventListener("click", function () { open(null); });
  document.querySelectorAll("[data-edit]").forEach(function (b) {
    b.addEventListener("click", function () {
      var id = Number(b.dataset.edit);
      open(menus.filter(function (m) { return m.id === id; })[0]);
    });
  });
  $("rm-cancel").addEventListener("click", function () { editor.hidden = true; st = null; $("rm-new").focus(); });

  function setAudience(aud, seg) {
    var r = document.querySelector('input[name="rm-aud"][value="' + (aud || "default") + '"]');
    if (r && !r.disabled) r.checked = true;
    if (seg) $("rm-segment").value = String(seg);
    $("rm-segment").disabled = aud !== "segment";
  }
  document.querySelectorAll('input[name="rm-aud"]').forEach(function (r) {
    r.addEventListener("change", function () { $("rm-segment").disabled = r.value !== "segment" || !r.checked; });
  });

  // The image: checked here as LINE checks it, and again by the server.
  $("rm-image").addEventListener("change", function () {
    var f = this.files[0], err = $("rm-image-err");
    err.textContent = "";
    if (!f) return;
    if (f.type !== "image/png" && f.type !== "image/jpeg") { err.textContent = t("bad_type"); return; }
    if (f.size > R.max_bytes) { err.textContent = M.fmt(t("too_big"), M.num(f.size)); return; }
    var rd = new FileReader();
    rd.onload = function () {
      var im = new Image();
      im.onload = function () {
        var w = im.naturalWidth, h = im.naturalHeight;
        if (w < R.min_w || w > R.max_w || h < R.min_h || w / h < R.min_aspect) {
          err.textContent = M.fmt(t("bad_size"), w, h);
          return;
        }
        var old = st.img;
        st.img = { src: rd.result, w: w, h: h, data: rd.result };
        if (!old || old.w !== w || old.h !== h || !st.areas.length) layout(st.areas.length ? st.areas.length === 1 ? "1x1" : "2x1" : "1x1");
        $("rm-image-help").textContent = M.fmt(t("image_ok"), w, h, M.num(f.size));
        draw();
      };
      im.onerror = function () { err.textContent = t("bad_type"); };
      im.src = rd.result;
    };
    rd.readAsDataURL(f);
  });

  // Layout templates: a grid of areas over the whole image; actions kept by position.
  function layout(kind) {
    if (!st.img) { $("rm-areas-err").textContent = t("pick_image_first"); return; }
    var W = st.img.w, H = st.img.h, cells = [];
    var grid = function (cols, rows) {
      for (var r = 0; r < rows; r++) for (var c = 0; c < cols; c++) {
        var x = Math.round(c * W / cols), y = Math.round(r * H / rows);
        cells.push([x, y, Math.round((c + 1) * W / cols) - x, Math.round((r + 1) * H / rows) - y]);
      }
    };
    switch (kind) {
      case "2x1": grid(2, 1); break;
      case "3x1": grid(3, 1); break;
      case "2x2": grid(2, 2); break;
      case "3x2": grid(3, 2); break;
      case "big":
        var top = Math.round(H / 2);
        cells.push([0, 0, W, top]);
        for (var c = 0; c < 3; c++) { var x = Math.round(c * W / 3); cells.push([x, top, Math.round((c + 1) * W / 3) - x, H - top]); }
        break;
      default: grid(1, 1);
    }
    st.areas = cells.map(function (b, i) {
      var old = st.areas[i] || { type: "uri", value: "", label: "" };
      return { x: b[0], y: b[1], w: b[2], h: b[3], type: old.type, value: old.value, label: old.label };
    });
    draw();
  }
  document.querySelectorAll("[data-layout]").forEach(function (b) {
    b.addEventListener("click", function () { layout(b.dataset.layout); });
  });
  $("rm-add-area").addEventListener("click", function () {
    if (!st.img) { $("rm-areas-err").textContent = t("pick_image_first"); return; }
    if (st.areas.length >= R.max_areas) { $("rm-areas-err").textContent = M.fmt(t("too_many"), R.max_areas); return; }
    var w = Math.round(st.img.w / 3), h = Math.round(st.img.h / 2);
    st.areas.push({ x: 0, y: 0, w: w, h: h, type: "uri", value: "", label: "" });
    draw();
    var rows = areasBox.querySelectorAll("fieldset");
    rows[rows.length - 1].querySelector("select").focus();
  });

  // Drawing on the image: drag to make a new area.
  var drag = null;
  function imgPoint(ev) {
    var box = canvas.querySelector(".rm-stage").getBoundingClientRect();
    var s = st.img.w / box.width;
    return { x: Math.max(0, Math.min(st.img.w, Math.round((ev.clientX - box.left) * s))), y: Math.max(0, Math.min(st.img.h, Math.round((ev.clientY - box.top) * s))) };
  }
  canvas.addEventListener("pointerdown", function (ev) {
    if (!st || !st.img || ev.target.closest(".rm-area")) return;
    if (st.areas.length >= R.max_areas) { $("rm-areas-err").textContent = M.fmt(t("too_many"), R.max_areas); return; }
    drag = { a: imgPoint(ev) };
    canvas.setPointerCapture(ev.pointerId);
    ev.preventDefault();
  });
  canvas.addEventListener("pointermove", function (ev) {
    if (!drag) return;
    drag.b = imgPoint(ev);
    var g = canvas.querySelector(".rm-ghost");
    var x = Math.min(drag.a.x, drag.b.x), y = Math.min(drag.a.y, drag.b.y);
    pos(g, x, y, Math.abs(drag.b.x - drag.a.x), Math.abs(drag.b.y - drag.a.y));
    g.hidden = false;
  });
  canvas.addEventListener("pointerup", function () {
    if (!drag) return;
    var d = drag; drag = null;
    canvas.querySelector(".rm-ghost").hidden = true;
    if (!d.b) return;
    var x = Math.min(d.a.x, d.b.x), y = Math.min(d.a.y, d.b.y), w = Math.abs(d.b.x - d.a.x), h = Math.abs(d.b.y - d.a.y);
    if (w < 20 || h < 20) return;
    st.areas.push({ x: x, y: y, w: w, h: h, type: "uri", value: "", label: "" });
    st.sel = st.areas.length - 1;
    draw();
  });
  function pos(n, x, y, w, h) {
    n.style.left = (100 * x / st.img.w) + "%"; n.style.top = (100 * y / st.img.h) + "%";
    n.style.width = (100 * w / st.img.w) + "%"; n.style.height = (100 * h / st.img.h) + "%";
  }
  function stage(target, clickable) {
    var s = el("div", { className: "rm-stage" }, el("img", { src: st.img.src, alt: "", draggable: false }));
    st.areas.forEach(function (a, i) {
      var n = el("div", { className: "rm-area" + (i === st.sel ? " sel" : ""), dataset: { i: i } }, el("span", {}, String(i + 1)));
      pos(n, a.x, a.y, a.w, a.h);
      n.addEventListener("click", function () { clickable(i); });
      s.appendChild(n);
    });
    target.appendChild(s);
    return s;
  }

  var kinds = [["uri", "act_uri"], ["message", "act_message"], ["postback", "act_postback"]];
  function draw() {
    canvas.textContent = "";
    areasBox.textContent = "";
    $("rm-areas-err").textContent = "";
    var pm = $("rm-preview-menu");
    pm.textContent = "";
    $("rm-preview-bar").textContent = ($("rm-chat").value || "メニュー") + " ▾";
    if (!st || !st.img) { canvas.appendChild(el("p", { className: "muted empty" }, t("pick_image_first"))); return; }
    var s = stage(canvas, function (i) { st.sel = i; draw(); var f = areasBox.querySelectorAll("fieldset")[i]; if (f) f.querySelector("select").focus(); });
    var ghost = el("div", { className: "rm-area rm-ghost" }); ghost.hidden = true; s.appendChild(ghost);
    stage(pm, function (i) {
      var a = st.areas[i];
      $("rm-preview-tap").textContent = M.fmt(t("tap_" + a.type), a.value || "—");
    });
    pm.hidden = !$("rm-selected").checked;
    st.areas.forEach(function (a, i) {
      var num = function (k, label, max) {
        return el("label", { className: "small" }, label, el("input", { type: "number", min: 0, max: max, value: a[k], className: "tiny", dataset: { k: k },
          oninput: function () { a[k] = Math.round(Number(this.value)); redrawBoxes(); } }));
      };
      var sel = el("select", { "aria-label": t("action"), onchange: function () { a.type = this.value; val.placeholder = t("ph_" + a.type); } });
      kinds.forEach(function (k) { sel.appendChild(el("option", { value: k[0], selected: a.type === k[0] }, t(k[1]))); });
      var val = el("input", { value: a.value || "", placeholder: t("ph_" + a.type), maxLength: 1000, "aria-label": t("action_value"), className: "grow", dataset: { k: "value" },
        oninput: function () { a.value = this.value; } });
      var fs = el("fieldset", { className: "group" + (i === st.sel ? " sel" : ""), dataset: { i: i } },
        el("legend", {}, t("area") + " " + (i + 1)),
        el("div", { className: "row wrap" }, num("x", "x", st.img.w), num("y", "y", st.img.h), num("w", t("width"), st.img.w), num("h", t("height"), st.img.h)),
        el("div", { className: "row wrap" }, sel, val,
          el("input", { value: a.label || "", placeholder: t("label"), maxLength: 20, "aria-label": t("label"), className: "short", dataset: { k: "label" }, oninput: function () { a.label = this.value; } }),
          el("button", { type: "button", className: "btn icon critical", "aria-label": t("remove_area") + " " + (i + 1), onclick: function () { st.areas.splice(i, 1); st.sel = -1; draw(); } }, "✕")),
        el("p", { className: "field-err", id: "rm-area-" + i + "-err", role: "alert" }));
      areasBox.appendChild(fs);
    });
    $("rm-add-area").disabled = st.areas.length >= R.max_areas;
  }
  function redrawBoxes() {
    [canvas, $("rm-preview-menu")].forEach(function (c) {
      c.querySelectorAll(".rm-area:not(.rm-ghost)").forEach(function (n) { var a = st.areas[n.dataset.i]; if (a) pos(n, a.x, a.y, a.w, a.h); });
    });
  }
  $("rm-chat").addEventListener("input", function () { $("rm-preview-bar").textContent = (this.value || "メニュー") + " ▾"; });
  $("rm-selected").addEventListener("change", function () { $("rm-preview-menu").hidden = !this.checked; });

  // --- save ---------------------------------------------------------------
  function check() {
    var bad = null;
    var put = function (id, msg, focus) { $(id).textContent = msg; if (!bad) bad = focus || $(id); };
    if (!st.img) put("rm-image-err", t("pick_image_first"), $("rm-image"));
    if (!$("rm-name").value.trim()) put("rm-name-err", t("need_name"), $("rm-name"));
    var chat = $("rm-chat").value.trim();
    if (!chat || chat.length > R.max_chat) put("rm-chat-err", M.fmt(t("bad_chat"), R.max_chat), $("rm-chat"));
    if (st.img && !st.areas.length) put("rm-areas-err", t("need_area"), $("rm-add-area"));
    st.areas.forEach(function (a, i) {
      var row = areasBox.querySelectorAll("fieldset")[i];
      if (!(a.x >= 0 && a.y >= 0 && a.w >= 1 && a.h >= 1 && a.x + a.w <= st.img.w && a.y + a.h <= st.img.h)) {
        put("rm-area-" + i + "-err", M.fmt(t("out_of_image"), st.img.w, st.img.h), row.querySelector('[data-k="x"]'));
      } else if (!a.value || (a.type === "uri" && !/^(https?:\/\/[^\s]+|line:\/\/[^\s]+|tel:[0-9+\-]+)$/.test(a.value))) {
        put("rm-area-" + i + "-err", t("need_" + a.type), row.querySelector('[data-k="value"]'));
      }
    });
    var aud = document.querySelector('input[name="rm-aud"]:checked').value;
    if (aud === "segment" && !$("rm-segment").value) put("rm-segment-err", t("need_segment"), $("rm-segment"));
    var pr = Number($("rm-priority").value);
    if (!(Number.isInteger(pr) && pr >= 0 && pr <= 1000)) put("rm-priority-err", t("bad_priority"), $("rm-priority"));
    if (bad) bad.focus();
    return !bad;
  }
  // Server errors start with the field they are about.
  function place(msg) {
    var m = /^areas\[(\d+)\]/.exec(msg), id = "rm-save-err";
    if (m) id = "rm-area-" + m[1] + "-err";
    else if (/^(image|size):/.test(msg)) id = "rm-image-err";
    else if (/^name:/.test(msg)) id = "rm-name-err";
    else if (/^chatBarText:/.test(msg)) id = "rm-chat-err";
    else if (/^areas:/.test(msg)) id = "rm-areas-err";
    else if (/^segment_id:/.test(msg)) id = "rm-segment-err";
    else if (/^channel_id:/.test(msg) && $("rm-account")) id = "rm-account-err";
    else if (/^priority:/.test(msg)) id = "rm-priority-err";
    if (!$(id)) id = "rm-save-err";
    $(id).textContent = msg;
  }
  $("rm-save").addEventListener("click", function () {
    document.querySelectorAll("#rm-editor .field-err").forEach(function (p) { p.textContent = ""; });
    if (!check()) return;
    var aud = document.querySelector('input[name="rm-aud"]:checked').value;
    var def = {
      size: { width: st.img.w, height: st.img.h }, selected: $("rm-selected").checked,
      name: $("rm-name").value.trim(), chatBarText: $("rm-chat").value.trim(),
      areas: st.areas.map(function (a) {
        var act = { type: a.type };
        if (a.label) act.label = a.label;
        if (a.type === "uri") act.uri = a.value; else if (a.type === "message") act.text = a.value; else act.data = a.value;
        return { bounds: { x: a.x, y: a.y, width: a.w, height: a.h }, action: act };
      })
    };
    var body = { menu: def, image: st.img.data, audience: aud, priority: Number($("rm-priority").value), replaces: st.id };
    if (aud === "segment") body.segment_id = Number($("rm-segment").value);
    if ($("rm-account")) body.channel_id = Number($("rm-account").value);
    $("rm-save").disabled = true;
    M.api("POST", "/api/richmenus", body).then(function () { location.search = "?saved=1"; })
      .catch(function (e) { place(e.message); $("rm-save").disabled = false; });
  });
})();
