Response.redirect("/echo?name=moved", 303)
