import "./_lib/util" for Util
System.print(Util.shout("quiet"))
