def handle(request, response):
    """Class 9: a status and headers the page takes from the query: 1xx statuses, header names that
    are not tokens, values with control characters."""
    q = request.query
    if "status" in q:
        response.status = int(q["status"])
    if "name" in q:
        response.headers[q["name"]] = q.get("value", "x")
    elif "value" in q:
        response.headers["x-hostile"] = q["value"]
    response.write("framed\n")
