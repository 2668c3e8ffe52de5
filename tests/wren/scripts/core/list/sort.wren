var a = [3, 1, 2]
a.sort()
System.print(a) // expect: [1, 2, 3]
var b = [5, 2, 8, 1, 9, 3]
b.sort {|x, y| x > y }
System.print(b) // expect: [9, 8, 5, 3, 2, 1]
var words = ["pear", "fig", "banana"]
words.sort {|x, y| x.count < y.count }
System.print(words) // expect: [fig, pear, banana]
var empty = []
empty.sort()
System.print(empty) // expect: []
var one = [1]
one.sort()
System.print(one) // expect: [1]
var dupes = [2, 1, 2, 1, 3, 1]
dupes.sort()
System.print(dupes) // expect: [1, 1, 1, 2, 2, 3]
var many = []
for (i in 1..100) many.add((i * 37) % 101)
many.sort()
System.print(many[0]) // expect: 1
System.print(many[99]) // expect: 100
var sorted = true
for (i in 1...many.count) if (many[i - 1] > many[i]) sorted = false
System.print(sorted) // expect: true
