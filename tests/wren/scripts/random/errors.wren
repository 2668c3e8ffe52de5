import "random" for Random
var check = Fn.new {|fn| System.print(Fiber.new(fn).try()) }
check.call { Random.new(true) } // expect: Seed must be a number or a sequence of numbers.
check.call { Random.new(null) } // expect: Seed must be a number or a sequence of numbers.
// A string is a sequence, of strings.
check.call { Random.new("seed") } // expect: Sequence elements must all be numbers.
check.call { Random.new([]) } // expect: Sequence cannot be empty.
check.call { Random.new([1, "a"]) } // expect: Sequence elements must all be numbers.
check.call { Random.new(1).sample([1, 2], 3) } // expect: Not enough elements to sample.
