print(math.random(1, 1000000000), math.random(1, 1000000000))
