System.print("user " + Request.params["id"])
