// Shared helpers of the merchant pages (segments, campaigns, automations).
// Every write is a same-origin fetch with a JSON body and
// Content-Type: application/json, which a cross-site form cannot forge.
(function () {
  "use strict";
  function api(method, url, body) {
    var opts = { method: method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (method !== "GET") {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body === undefined ? {} : body);
    }
    return fetch(url, opts).then(function (res) {
      return res.text().then(function (text) {
        var data = {};
        try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { error: text }; }
        if (!res.ok) { var err = new Error(data.error || res.statusText); err.status = res.status; throw err; }
        return data;
      });
    });
  }
  // el("div", {className: "x", onclick: f}, child, "text", …)
  function el(tag, props) {
    var n = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k.indexOf("on") === 0) n.addEventListener(k.slice(2), props[k]);
      else if (k === "dataset") Object.assign(n.dataset, props[k]);
      else if (k in n) n[k] = props[k];
      else n.setAttribute(k, props[k]);
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      n.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return n;
  }
  function fmt(s) { var a = arguments, i = 1; return String(s).replace(/%[ds]/g, function () { return a[i++]; }); }
  function num(n) { return Number(n || 0).toLocaleString(document.body.dataset.lang === "en" ? "en-US" : "ja-JP"); }
  function setErr(id, msg) { var e = document.getElementById(id); if (e) { e.textContent = msg || ""; } }
  window.MUI = { api: api, el: el, fmt: fmt, num: num, setErr: setErr };
})();
