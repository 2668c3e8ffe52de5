def handle(request, response):
    hoard = []
    while True:
        hoard.append(bytearray(1024 * 1024))
