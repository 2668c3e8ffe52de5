def handle(request, response):
    response.write(fs.read("data/hello.txt").strip() + "\n")
    response.write(f"{str(fs.exists('data/hello.txt')).lower()} {str(fs.exists('data/missing.txt')).lower()}\n")
    try:
        fs.read("../../../../etc/passwd")
        response.write("outside=READ\n")
    except Exception:
        response.write("outside=denied\n")
    response.write("list=" + ",".join(fs.list("data")) + "\n")
