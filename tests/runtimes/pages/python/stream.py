import trio


async def handle(request, response):
    response.headers["content-type"] = "text/plain"
    response.write("first;")
    await response.flush()
    await trio.sleep(0.05)
    response.write("second;")
    await response.flush()
    response.write("third")
