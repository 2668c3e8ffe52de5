import os
import subprocess


def handle(request, response):
    """Class 6: children that leave the page's session, and a grandchild whose parent is gone."""
    duration = request.query["sleep"]  # the test's unique duration: its marker
    subprocess.Popen(["setsid", "sleep", duration])
    subprocess.Popen(["sleep", duration], start_new_session=True)
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                os.execvp("sleep", ["sleep", duration])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    response.write("started 3\n")
