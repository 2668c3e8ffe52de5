import random


def handle(request, response):
    """Class 10: seed the generator and leave it at the start of the seed-1 sequence."""
    random.seed(1)
    seq = [random.randint(1, 10**9) for _ in range(20)]
    random.seed(1)
    response.write(" ".join(str(n) for n in seq) + "\n")
