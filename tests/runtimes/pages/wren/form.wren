var f = Request.form
Response.json({"name": f["name"], "count": Num.fromString(f["count"])})
