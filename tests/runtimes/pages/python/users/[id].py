def handle(request, response):
    response.write(f"user {request.params['id']}\n")
