// The victim keeps its secret in a site module's static.
import "./_lib/store" for Store
Store.keep(Fs.read("_secret.txt"))
System.print("kept")
