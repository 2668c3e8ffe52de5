// The victim reads its cache entries back: did anything of another site change them?
var secret = Fs.read("_secret.txt")
var same = Cache.get("secret") == secret ? "same" : "changed"
var counter = Cache.get("counter") == 10 ? "same" : "changed"
System.print("secret=%(same) counter=%(counter)")
