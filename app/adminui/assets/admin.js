// Tsunagu admin: small progressive enhancements over server-rendered pages.
(function () {
  "use strict";
  var lang = document.body.dataset.lang || "ja";
  var T = {
    saved: lang === "en" ? "Saved" : "保存しました",
    ok: lang === "en" ? "Connected" : "接続できました",
    failed: lang === "en" ? "Failed: " : "失敗しました: "
  };

  function api(method, url, body) {
    var opts = { method: method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (res) {
      return res.text().then(function (text) {
        var data = {};
        try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { error: text }; }
        if (!res.ok) { throw new Error(data.error || res.statusText); }
        return data;
      });
    });
  }

  function show(el, ok, text) {
    if (!el) return;
    el.textContent = text;
    el.className = "result " + (ok ? "ok" : "err");
  }

  // Forms with data-api send their fields as JSON: numbers as numbers,
  // checkboxes as booleans, empty password fields left out (kept on the server).
  function formJSON(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name) return;
      if (el.type === "checkbox") out[el.name] = el.checked;
      else if (el.type === "number") out[el.name] = el.value === "" ? 0 : Number(el.value);
      else if (el.type === "password" && el.value === "") return;
      else out[el.name] = el.value;
    });
    return out;
  }

  function fill(form, data) {
    Object.keys(data || {}).forEach(function (k) {
      var el = form.elements[k];
      if (!el || el.type === "password" || el.length) return;
      if (el.type === "checkbox") el.checked = !!data[k];
      else if (data[k] !== null && typeof data[k] !== "object") el.value = data[k];
    });
  }

  document.querySelectorAll("form[data-api]").forEach(function (form) {
    if (form.dataset.load) {
      api("GET", form.dataset.load).then(function (d) { fill(form, d); }).catch(function () {});
    }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var result = form.querySelector(".result");
      api(form.dataset.method || "POST", form.dataset.api, formJSON(form))
        .then(function () { show(result, true, T.saved); document.dispatchEvent(new Event("tsunagu:saved")); })
        .catch(function (e) { show(result, false, T.failed + e.message); });
    });
  });

  // Staff list: rows with a disable/enable toggle.
  var staffList = document.querySelector("#staff-list tbody");
  function loadStaff() {
    if (!staffList) return;
    api("GET", "/api/staff").then(function (d) {
      staffList.innerHTML = "";
      (d.staff || []).forEach(function (s) {
        var tr = document.createElement("tr");
        var td = function (text) { var el = document.createElement("td"); el.textContent = text; tr.appendChild(el); return el; };
        td(s.email + (s.name ? " (" + s.name + ")" : ""));
        td(s.role);
        var btn = document.createElement("button");
        btn.type = "button"; btn.className = "btn";
        btn.textContent = s.disabled_at ? (lang === "en" ? "Enable" : "有効にする") : (lang === "en" ? "Disable" : "無効にする");
        btn.addEventListener("click", function () {
          api("PATCH", "/api/staff/" + s.id, { disabled: !s.disabled_at }).then(loadStaff);
        });
        td("").appendChild(btn);
        staffList.appendChild(tr);
      });
    }).catch(function () {});
  }
  loadStaff();
  document.addEventListener("tsunagu:saved", loadStaff);

  document.querySelectorAll("[data-post]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var result = btn.closest("form").querySelector(".result");
      api("POST", btn.dataset.post, {})
        .then(function (d) { show(result, true, T.ok + (d.bot_name ? " — " + d.bot_name : "")); })
        .catch(function (e) { show(result, false, T.failed + e.message); });
    });
  });

  // History import: a progress bar per kind, polled while one runs; the
  // start button (admins only) posts the optional "since" date.
  var hist = document.querySelector("[data-history]");
  if (hist) {
    var box = document.getElementById("history-progress");
    var L = JSON.parse(box.dataset.labels || "{}");
    var timer = null;
    var renderHistory = function (d) {
      var active = false;
      box.innerHTML = "";
      (d.imports || []).forEach(function (h) {
        if (h.status === "pending" || h.status === "running" || h.status === "importing") active = true;
        var row = document.createElement("div");
        row.className = "history-row"; row.dataset.kind = h.kind;
        var p = document.createElement("p");
        var strong = document.createElement("strong"); strong.textContent = L[h.kind] || h.kind; p.appendChild(strong);
        var text = " — " + (L[h.status] || h.status) + " " + h.done + " / " + h.total;
        if (h.left_seconds != null) text += " (" + L.left + " " + Math.max(1, Math.round(h.left_seconds / 60)) + (lang === "en" ? " min left" : " 分") + ")";
        p.appendChild(document.createTextNode(text));
        if (h.error) { var e = document.createElement("span"); e.className = "field-err"; e.textContent = " " + h.error; p.appendChild(e); }
        var bar = document.createElement("div"); bar.className = "progress"; bar.setAttribute("role", "progressbar");
        bar.setAttribute("aria-valuemin", "0"); bar.setAttribute("aria-valuemax", String(h.total)); bar.setAttribute("aria-valuenow", String(h.done));
        var fillEl = document.createElement("span");
        fillEl.style.width = (h.total ? Math.floor(h.done * 100 / h.total) : (h.status === "done" ? 100 : 0)) + "%";
        bar.appendChild(fillEl);
        row.appendChild(p); row.appendChild(bar); box.appendChild(row);
      });
      clearTimeout(timer);
      if (active) timer = setTimeout(pollHistory, 3000);
    };
    var pollHistory = function () { api("GET", hist.dataset.history).then(renderHistory).catch(function () {}); };
    pollHistory();
    var startBtn = document.getElementById("history-start");
    if (startBtn) {
      startBtn.addEventListener("click", function () {
        var form = startBtn.closest("form");
        var result = form.querySelector(".result");
        api("POST", hist.dataset.history, { since: form.elements.since.value })
          .then(function (d) { show(result, true, T.saved); renderHistory(d); })
          .catch(function (e) { show(result, false, T.failed + e.message); });
      });
    }
  }

  document.querySelectorAll("[data-copy]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var el = document.querySelector(btn.dataset.copy);
      el.select();
      if (navigator.clipboard) navigator.clipboard.writeText(el.value);
    });
  });

  var jf = document.querySelector("form[data-journeys]");
  if (jf) {
    jf.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = {
        journeys: [],
        quiet_start: jf.elements.quiet_start.value,
        quiet_end: jf.elements.quiet_end.value,
        daily_cap: Number(jf.elements.daily_cap.value),
        thank_you_trigger: jf.elements.thank_you_trigger.value,
        restart_follow_ups: jf.elements.restart_follow_ups.checked
      };
      jf.querySelectorAll("tr[data-kind]").forEach(function (tr) {
        body.journeys.push({
          kind: tr.dataset.kind,
          enabled: tr.querySelector("[name=enabled]").checked,
          delay_minutes: Number(tr.querySelector("[name=delay_minutes]").value || 0)
        });
      });
      var result = jf.querySelector(".result");
      api("PUT", "/api/settings/journeys", body)
        .then(function () { show(result, true, T.saved); })
        .catch(function (e) { show(result, false, T.failed + e.message); });
    });
  }

  // Template editor: preview as you type, save refuses broken templates.
  var ed = document.getElementById("editor");
  if (ed) {
    var src = document.getElementById("source");
    var preview = document.getElementById("preview");
    var perr = document.getElementById("preview-error");
    var from = document.getElementById("preview-from");
    var q = "?lang=" + encodeURIComponent(ed.dataset.lang);
    if (ed.dataset.channel && ed.dataset.channel !== "0") q += "&channel=" + encodeURIComponent(ed.dataset.channel);
    var timer = null;
    var seq = 0;
    var render = function () {
      var mine = ++seq;
      api("POST", "/api/templates/" + ed.dataset.kind + "/preview" + q, { source: src.value }).then(function (d) {
        if (mine !== seq) return;
        // One renderer for every LINE preview (lineview.js, as the composer).
        window.LineView.render(preview, d.messages || []);
        from.textContent = d.data_from ? "(" + d.data_from + ")" : "";
        perr.hidden = true;
        ed.dataset.previewed = "ok";
      }).catch(function (e) {
        if (mine !== seq) return;
        perr.hidden = false;
        perr.textContent = e.message;
        ed.dataset.previewed = "error";
      });
    };
    src.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(render, 300); });
    window.TplPreview = function () { clearTimeout(timer); timer = setTimeout(render, 300); };
    render();
    var result = document.getElementById("tpl-result");
    var save = function (source) {
      api("PUT", "/api/templates/" + ed.dataset.kind + q, { source: source }).then(function (d) {
        show(result, true, T.saved);
        src.value = d.source;
        var badge = document.getElementById("tpl-state");
        if (badge.dataset.own) badge.textContent = d.account_override ? badge.dataset.own : badge.dataset.shared;
        else badge.textContent = d.overridden ? (lang === "en" ? "Custom" : "カスタム") : (lang === "en" ? "Default" : "デフォルト");
        render();
      }).catch(function (e) { show(result, false, T.failed + e.message); });
    };
    document.getElementById("tpl-save").addEventListener("click", function () { save(src.value); });
    document.getElementById("tpl-reset").addEventListener("click", function () { save(""); });
  }

  // Canned replies: picking one fills the reply box, which staff may edit.
  document.querySelectorAll("select[data-fill]").forEach(function (sel) {
    sel.addEventListener("change", function () {
      var box = document.getElementById(sel.dataset.fill);
      if (box && sel.value) { box.value = sel.value; box.focus(); }
    });
  });
})();
