// Template form: a text message and/or a Flex card (image, title, body,
// button) made from plain fields, written out as the template source (JSON
// with Go template actions) that the raw editor shows and the server checks.
// The form's fields ride along in a template comment, so the form reopens
// as it was; a source without it (a default, or hand-written) opens raw.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var src = $("source");
  if (!src || !$("tpl-form")) return;
  var lang = document.body.dataset.lang || "ja";
  var MARK = "{{/* form ";
  // Placeholders a merchant types, and what they stand for.
  var vars = {
    "{名前}": '(default "" .CustomerName)', "{name}": '(default "" .CustomerName)',
    "{ショップ名}": ".ShopName", "{shop}": ".ShopName",
    "{クーポン}": '(or (and .Coupon .Coupon.Code) "")', "{coupon}": '(or (and .Coupon .Coupon.Code) "")',
    "{URL}": "(.Track .ShopURL)"
  };
  // goText turns typed text with placeholders into a Go template
  // expression for a JSON string: {{json (printf "…%s…" args…)}}.
  function goText(s) {
    var args = [];
    var fmt = s.replace(/%/g, "%%").replace(/\{(名前|name|ショップ名|shop|クーポン|coupon|URL)\}/g, function (m) { args.push(vars[m]); return "%s"; });
    return "{{json (printf " + JSON.stringify(fmt) + (args.length ? " " + args.join(" ") : "") + ")}}";
  }
  function link(s) {
    s = (s || "").trim();
    if (!s || s === "{URL}") return "{{json (.Track .ShopURL)}}";
    return "{{json (.Track " + JSON.stringify(s) + ")}}";
  }
  function read() {
    return { text_on: $("f-use-text").checked, text: $("f-text").value, card_on: $("f-use-card").checked,
      image: $("f-image").value.trim(), title: $("f-title").value, body: $("f-body").value,
      button: $("f-button").value, link: $("f-link").value };
  }
  function write(f) {
    $("f-use-text").checked = !!f.text_on; $("f-text").value = f.text || "";
    $("f-use-card").checked = !!f.card_on; $("f-image").value = f.image || ""; $("f-title").value = f.title || "";
    $("f-body").value = f.body || ""; $("f-button").value = f.button || ""; $("f-link").value = f.link || "";
  }
  function check(f) {
    if (!f.text_on && !f.card_on) return lang === "en" ? "Turn on the text or the card." : "テキストかカードのどちらかをオンにしてください。";
    if (f.text_on && !f.text.trim()) return lang === "en" ? "Write the text." : "テキストを入力してください。";
    if (f.card_on && !f.title.trim()) return lang === "en" ? "The card needs a title." : "カードのタイトルを入力してください。";
    if (f.card_on && f.image && !/^https:\/\/\S+$/.test(f.image)) return lang === "en" ? "The image must be an https:// address." : "画像は https:// で始まるアドレスにしてください。";
    if (f.card_on && f.button && f.link && f.link.trim() !== "{URL}" && !/^https:\/\/\S+$/.test(f.link.trim())) return lang === "en" ? "The button link must be https:// or {URL}." : "ボタンのリンクは https:// か {URL} にしてください。";
    return "";
  }
  function source(f) {
    var msgs = [];
    if (f.text_on) msgs.push('  {"type": "text", "text": ' + goText(f.text) + "}");
    if (f.card_on) {
      var body = ['      {"type": "text", "text": ' + goText(f.title) + ', "weight": "bold", "size": "lg", "wrap": true}'];
      if (f.body.trim()) body.push('      {"type": "text", "text": ' + goText(f.body) + ', "size": "sm", "wrap": true, "color": "#555555"}');
      var card = '  {"type": "flex", "altText": ' + goText(f.title) + ', "contents": {"type": "bubble",\n';
      if (f.image) card += '    "hero": {"type": "image", "url": ' + JSON.stringify(f.image) + ', "size": "full", "aspectMode": "cover", "aspectRatio": "20:13"},\n';
      card += '    "body": {"type": "box", "layout": "vertical", "spacing": "md", "contents": [\n' + body.join(",\n") + "\n    ]}";
      if (f.button.trim()) {
        card += ',\n    "footer": {"type": "box", "layout": "vertical", "contents": [\n      {"type": "button", "style": "primary", "color": "#06C755", "action": {"type": "uri", "label": ' +
          JSON.stringify(f.button.trim()) + ', "uri": ' + link(f.link) + "}}\n    ]}";
      }
      msgs.push(card + "}}");
    }
    return MARK + JSON.stringify(f).replace(/\*\//g, "* /") + " */}}\n[\n" + msgs.join(",\n") + "\n]";
  }
  function fromSource(s) {
    if (s.indexOf(MARK) !== 0) return null;
    var end = s.indexOf(" */}}");
    try { return JSON.parse(s.slice(MARK.length, end)); } catch (e) { return null; }
  }
  function update() {
    var f = read(), err = check(f);
    $("f-err").textContent = err;
    if (err) return;
    src.value = source(f);
    src.dispatchEvent(new Event("input"));
  }
  function mode(form) {
    $("tpl-form").hidden = !form; $("tpl-raw").hidden = form;
    $("mode-form").className = "chip" + (form ? " active" : ""); $("mode-raw").className = "chip" + (form ? "" : " active");
    $("mode-form").setAttribute("aria-selected", form); $("mode-raw").setAttribute("aria-selected", !form);
  }
  ["f-use-text", "f-text", "f-use-card", "f-image", "f-title", "f-body", "f-button", "f-link"].forEach(function (id) {
    $(id).addEventListener("input", update);
    $(id).addEventListener("change", update);
  });
  $("mode-raw").addEventListener("click", function () { mode(false); src.focus(); });
  $("mode-form").addEventListener("click", function () {
    var f = fromSource(src.value);
    if (!f) {
      // Hand-written or default: the form starts from a simple message and
      // replaces the source only once the merchant types in it.
      f = { text_on: true, text: "", card_on: false, image: "", title: "", body: "", button: "", link: "{URL}" };
    }
    write(f);
    mode(true);
    $("f-text").focus();
  });
  var saved = fromSource(src.value);
  if (saved) write(saved);
  mode(!!saved);
})();
