import "meta" for Meta
import "random" for Random
System.print(Meta is Class) // expect: true
System.print(Random.name) // expect: Random
