def handle(request, response):
    f = request.form()
    response.json({"name": f.get("name"), "count": int(f["count"])})
