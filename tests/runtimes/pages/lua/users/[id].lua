print("user " .. request.params.id)
