var names = [Object, Class, Bool, Fiber, Fn, Null, Num, Sequence, MapSequence, SkipSequence, TakeSequence, WhereSequence, List, String, StringByteSequence, StringCodePointSequence, Map, MapKeySequence, MapValueSequence, MapEntry, Range, System]
System.print(names.map {|c| c.name }.join(" ")) // expect: Object Class Bool Fiber Fn Null Num Sequence MapSequence SkipSequence TakeSequence WhereSequence List String StringByteSequence StringCodePointSequence Map MapKeySequence MapValueSequence MapEntry Range System
System.print(names.all {|c| c is Class }) // expect: true
