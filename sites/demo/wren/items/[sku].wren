// /wren/items/ab-12: a route parameter from the file name; unknown items answer 404.
import "../_lib/layout" for Layout

var names = {"ab-12": "Blue widget", "cd-34": "Red gadget"}
var sku = Request.params["sku"]
var name = names[sku]
if (name == null) {
  Response.status = 404
  Response.write(Layout.page("No such item", "<p>There is no item <b>%(Layout.escape(sku))</b>.</p>"))
} else {
  Response.json({"sku": sku, "name": name, "in_stock": true})
}
