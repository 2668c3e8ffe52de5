var chunk = "y" * 1024
while (true) Response.write(chunk)
