value = 41


def explode():
    raise RuntimeError("conformance failure on purpose")


def handle(request, response):
    explode()
