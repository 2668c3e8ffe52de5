def handle(request, response):
    chunk = "y" * 1024
    while True:
        response.write(chunk)
