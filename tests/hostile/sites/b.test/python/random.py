import random


def handle(request, response):
    response.write(f"{random.randint(1, 10**9)} {random.randint(1, 10**9)}\n")
