import "../modules/_lib/a" for A
import "./_lib/nested/deep" for Deep
// expect: a runs
System.print(A) // expect: value of A
System.print(Deep) // expect: deep sees value of A
