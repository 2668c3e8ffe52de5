response.headers["content-type"] = "text/plain"
response.write("first;")
response.flush()
sleep(0.05)
response.write("second;")
response.flush()
response.write("third")
