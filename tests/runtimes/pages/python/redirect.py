def handle(request, response):
    response.redirect("/echo?name=moved", 303)
