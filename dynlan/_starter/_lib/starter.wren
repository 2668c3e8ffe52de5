// Shared by the Wren pages: `import "starter" for Starter` loads _lib/starter.wren.
class Starter {
  // Text for HTML element content and quoted attributes.
  static escape(text) {
    return text.toString.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
      .replace("\"", "&quot;").replace("'", "&#39;")
  }

  static page(title, body) {
    var t = escape(title)
    return "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>%(t)</title>" +
      "<link rel=\"stylesheet\" href=\"/assets/style.css\"></head><body><main><h1>%(t)</h1>" +
      "%(body)<p><a href=\"/\">Home</a></p></main></body></html>\n"
  }
}
