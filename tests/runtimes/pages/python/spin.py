import trio


async def handle(request, response):
    while True:  # loops forever; the wall-time budget ends it
        await trio.sleep(0)
