# @summary One item, by its position in the list
# @tags items
# @param path id integer The item's position, from 1
# @response 200 application/json {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}
# @response 404 No item at this position


def handle(request, response):
    items = cache.get("api:items") or []
    raw = request.params["id"]
    if not raw.isdigit() or not 1 <= int(raw) <= len(items):
        response.json({"error": "no such item"}, 404)
        return
    response.json({"id": int(raw), "name": items[int(raw) - 1]})
