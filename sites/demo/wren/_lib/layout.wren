// Shared by the Wren demo pages (`import "./_lib/layout" for Layout`); folders starting with _ are never served.
class Layout {
  // Text for HTML element content and quoted attributes: user input never becomes markup.
  static escape(text) {
    return text.toString.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
      .replace("\"", "&quot;").replace("'", "&#39;")
  }

  static page(title, body) {
    var t = escape(title)
    return "<!doctype html><html><head><meta charset=utf-8><title>%(t)</title>" +
      "<link rel=stylesheet href=/assets/style.css></head><body><h1>%(t)</h1>" +
      "%(body)<p><a href=/>Home</a></p></body></html>\n"
  }
}
