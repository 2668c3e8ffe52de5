def handle(request, response):
    total = 0
    for i in range(10**10):  # CPU-bound: the CPU budget ends it (sandboxed mode)
        total += i
    response.write(str(total))
