Num.fromString("1e500") // expect runtime error: Number literal is too large.
