class Empty {}
System.print(Empty) // expect: Empty
class AlsoEmpty {
}
System.print(AlsoEmpty.name) // expect: AlsoEmpty
