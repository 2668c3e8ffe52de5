import subprocess


def handle(request, response):
    """Class 6: as many children as the page can start, 200 at most (never an unbounded bomb)."""
    duration = request.query["sleep"]  # the test's unique duration: its marker
    started = 0
    error = ""
    for _ in range(200):
        try:
            subprocess.Popen(["sleep", duration])
        except OSError as exc:
            error = repr(exc)
            break
        started += 1
    response.write(f"started {started} {error}\n")
