System.print("start") // expect: start
import "./_lib/a"
// expect: a runs
System.print("end") // expect: end
