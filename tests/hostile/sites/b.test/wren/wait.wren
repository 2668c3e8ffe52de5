// A victim page that holds its secrets while it waits on I/O: meanwhile its fiber is suspended.
var secret = Fs.read("_secret.txt")
var cookie = Request.headers["cookie"]
Host.sleep(0.5)
System.print("victim %(secret) %(cookie)")
