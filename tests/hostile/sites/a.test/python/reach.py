import os
import signal
import socket


def parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def attempt(out, name, action):
    try:
        action()
    except OSError as exc:
        out.append(f"{name}: denied {type(exc).__name__}")
    else:
        out.append(f"{name}: reached")


def read(path, size=-1):
    with open(path, "rb") as f:
        return f.read(size)


def write(path):
    with open(path, "w") as f:
        f.write("x")


def handle(request, response):
    """Reach past the site with the process's own means: the server process, its listener, the disk."""
    server = parent_of(os.getppid())  # this process < the sandbox worker < the server's worker
    port = int(request.query.get("port", "0"))
    out = []
    attempt(out, "signal the server", lambda: os.kill(server, signal.SIGCONT))
    attempt(out, "read the server's environment", lambda: read(f"/proc/{server}/environ"))
    attempt(out, "read the server's memory", lambda: read(f"/proc/{server}/mem", 1))
    attempt(out, "connect to the server's listener", lambda: socket.create_connection(("127.0.0.1", port), 2).close())
    attempt(out, "listen on a port", lambda: socket.create_server(("127.0.0.1", 0)).close())
    attempt(out, "write outside the site", lambda: write("/var/tmp/dynlan-hostile-write"))
    attempt(out, "read the root's home", lambda: os.listdir(os.path.expanduser("~root")))
    response.write("\n".join(out) + "\n")
