def handle(request, response):
    response.write("hello from b.test in python\n")
