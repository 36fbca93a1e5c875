// Draws LINE messages as the phone shows them: text bubbles, images and
// Flex bubbles/carousels as HTML. Unknown parts fall back to their alt text.
(function () {
  "use strict";
  var sizes = { xxs: 10, xs: 11, sm: 12, md: 13, lg: 15, xl: 17, xxl: 20, "3xl": 24, "4xl": 28, "5xl": 32 };
  var gaps = { none: 0, xs: 2, sm: 4, md: 8, lg: 12, xl: 16, xxl: 20 };
  function px(v, table) { return v in table ? table[v] + "px" : v; }
  function safeURL(u) { return /^https:\/\//.test(u || "") ? u : ""; }
  function node(c, parentLayout) {
    var e;
    switch (c.type) {
      case "box":
        e = document.createElement("div");
        e.className = "lbox " + (c.layout || "vertical");
        if (c.spacing) e.style.gap = px(c.spacing, gaps);
        if (c.paddingAll) e.style.padding = px(c.paddingAll, gaps);
        if (c.backgroundColor) e.style.background = c.backgroundColor;
        if (c.cornerRadius) e.style.borderRadius = px(c.cornerRadius, gaps);
        (c.contents || []).forEach(function (k) { e.appendChild(node(k, c.layout)); });
        break;
      case "text":
        e = document.createElement("div");
        e.className = "ltx";
        e.textContent = c.text || (c.contents || []).map(function (s) { return s.text || ""; }).join("");
        e.style.fontSize = px(c.size || "md", sizes);
        if (c.weight === "bold") e.style.fontWeight = "700";
        if (c.color) e.style.color = c.color;
        if (c.align) e.style.textAlign = c.align === "end" ? "right" : c.align === "center" ? "center" : "left";
        if (!c.wrap) { e.style.whiteSpace = "nowrap"; e.style.overflow = "hidden"; e.style.textOverflow = "ellipsis"; }
        break;
      case "button":
        e = document.createElement("a");
        e.className = "lbtn " + (c.style || "link");
        e.textContent = (c.action && c.action.label) || "";
        if (c.color && c.style === "primary") e.style.background = c.color;
        if (c.action && c.action.uri) e.title = c.action.uri;
        break;
      case "image":
        e = document.createElement("img");
        e.className = "limg";
        e.src = safeURL(c.url);
        e.alt = "";
        e.style.width = "100%";
        break;
      case "icon":
        e = document.createElement("img"); e.className = "licon"; e.src = safeURL(c.url); e.alt = "";
        break;
      case "separator":
        e = document.createElement("div"); e.className = "lsep";
        if (c.margin) e.style.marginTop = px(c.margin, gaps);
        return e;
      case "spacer": case "filler":
        e = document.createElement("div"); e.style.flex = "1"; e.style.minHeight = px(c.size || "md", gaps);
        return e;
      default:
        e = document.createElement("div"); e.textContent = "[" + c.type + "]";
    }
    if (c.margin && e.style) e.style.marginTop = parentLayout === "horizontal" ? "" : px(c.margin, gaps);
    if (parentLayout === "horizontal" || parentLayout === "baseline") e.style.flex = c.flex === undefined ? "1" : String(c.flex);
    return e;
  }
  function bubble(b) {
    var e = document.createElement("div");
    e.className = "lbubble " + (b.size || "mega");
    ["header", "hero", "body", "footer"].forEach(function (part) {
      if (!b[part]) return;
      var sec = document.createElement("div");
      sec.className = part === "hero" ? "lhero" : "lsec";
      var st = b.styles && b.styles[part];
      if (st && st.backgroundColor) sec.style.background = st.backgroundColor;
      sec.appendChild(node(b[part], "vertical"));
      e.appendChild(sec);
    });
    return e;
  }
  function render(target, messages) {
    target.textContent = "";
    var chat = document.createElement("div");
    chat.className = "lchat";
    (messages || []).forEach(function (m) {
      var e;
      if (m.type === "text") { e = document.createElement("div"); e.className = "ltext"; e.textContent = m.text; }
      else if (m.type === "image") { e = document.createElement("img"); e.className = "limg"; e.src = safeURL(m.previewImageUrl || m.originalContentUrl); e.alt = ""; }
      else if (m.type === "flex" && m.contents && m.contents.type === "bubble") { e = bubble(m.contents); }
      else if (m.type === "flex" && m.contents && m.contents.type === "carousel") {
        e = document.createElement("div"); e.className = "lcarousel";
        (m.contents.contents || []).forEach(function (b) { e.appendChild(bubble(b)); });
      } else { e = document.createElement("div"); e.className = "ltext"; e.textContent = "[" + m.type + "] " + (m.altText || ""); }
      e.dataset.type = m.type;
      chat.appendChild(e);
    });
    target.appendChild(chat);
  }
  window.LineView = { render: render };
})();
