response.redirect("/echo?name=moved", 303)
