var list = [1, 2]
System.print(list.map {|x| x.nope }.toList) // expect runtime error: Num does not implement 'nope'.
