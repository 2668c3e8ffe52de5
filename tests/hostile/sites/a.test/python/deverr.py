def handle(request, response):
    """Class 8: an error naming a file and line outside this site, in the message and (with
    ?how=compile) as the traceback's own frame: code compiled under that file name."""
    target, line = request.query["target"], int(request.query["line"])
    if request.query.get("how") == "compile":
        exec(compile("\n" * (line - 1) + "raise RuntimeError('x')", target, "exec"))
    raise RuntimeError(f'{target}:{line}: x\n  File "{target}", line {line}, in handle')
