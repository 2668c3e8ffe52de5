from _lib import util


def handle(request, response):
    response.write(util.shout("quiet") + "\n")
