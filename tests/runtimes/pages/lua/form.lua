local f = request.form()
response.json({name = f.name, count = tonumber(f.count)})
