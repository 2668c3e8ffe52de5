import "./_lib/cycle_a"
System.print("main done")
// expect: cycle_a start
// expect: cycle_b start
// expect: cycle_b end
// expect: cycle_a end
// expect: main done
