// DeltaBlue: an incremental dataflow constraint solver (Freeman-Benson and
// Maloney). Builds a chain of equality constraints and a set of scale
// constraints, then edits variables and checks that the plans propagate.

// Constraint strengths, strongest first.
var start = System.clock

class Strength {
  construct new(value, name) {
    _value = value
    _name = name
  }

  value { _value }
  name { _name }
  nextWeaker { ORDERED[_value + 1] }

  static stronger(s1, s2) { s1.value < s2.value }
  static weaker(s1, s2) { s1.value > s2.value }
  static weakest(s1, s2) { weaker(s1, s2) ? s1 : s2 }
  static strongest(s1, s2) { stronger(s1, s2) ? s1 : s2 }
}

var REQUIRED = Strength.new(0, "required")
var STRONG_PREFERRED = Strength.new(1, "strongPreferred")
var PREFERRED = Strength.new(2, "preferred")
var STRONG_DEFAULT = Strength.new(3, "strongDefault")
var NORMAL = Strength.new(4, "normal")
var WEAK_DEFAULT = Strength.new(5, "weakDefault")
var WEAKEST = Strength.new(6, "weakest")
var ORDERED = [REQUIRED, STRONG_PREFERRED, PREFERRED, STRONG_DEFAULT, NORMAL, WEAK_DEFAULT, WEAKEST]

// Directions of a binary constraint.
var BACKWARD = 0
var NONE = 1
var FORWARD = 2

// The planner of the test that is running.
var ThePlanner = null

class Constraint {
  construct new(strength) { _strength = strength }

  strength { _strength }
  isInput { false }

  // Activates this constraint and tries to satisfy it.
  addConstraint() {
    addToGraph()
    ThePlanner.incrementalAdd(this)
  }

  // Picks a way to satisfy this constraint; returns the constraint it
  // overrode (now unsatisfied), or null.
  satisfy(mark) {
    chooseMethod(mark)
    if (!isSatisfied) {
      if (_strength == REQUIRED) Fiber.abort("Could not satisfy a required constraint!")
      return null
    }
    markInputs(mark)
    var out = output
    var overridden = out.determinedBy
    if (overridden != null) overridden.markUnsatisfied()
    out.determinedBy = this
    if (!ThePlanner.addPropagate(this, mark)) Fiber.abort("Cycle encountered")
    out.mark = mark
    return overridden
  }

  destroyConstraint() {
    if (isSatisfied) ThePlanner.incrementalRemove(this)
    removeFromGraph()
  }
}

// A constraint on a single variable.
class UnaryConstraint is Constraint {
  construct new(myOutput, strength) {
    super(strength)
    _myOutput = myOutput
    _satisfied = false
    addConstraint()
  }

  addToGraph() {
    _myOutput.addConstraint(this)
    _satisfied = false
  }

  chooseMethod(mark) {
    _satisfied = _myOutput.mark != mark && Strength.stronger(strength, _myOutput.walkStrength)
  }

  isSatisfied { _satisfied }
  markInputs(mark) {}
  output { _myOutput }

  recalculate() {
    _myOutput.walkStrength = strength
    _myOutput.stay = !isInput
    if (_myOutput.stay) execute()
  }

  markUnsatisfied() { _satisfied = false }
  inputsKnown(mark) { true }

  removeFromGraph() {
    if (_myOutput != null) _myOutput.removeConstraint(this)
    _satisfied = false
  }
}

// Keeps a variable where it is during plan execution.
class StayConstraint is UnaryConstraint {
  construct new(variable, strength) { super(variable, strength) }
  execute() {}
}

// Marks a variable as changed from outside the solver.
class EditConstraint is UnaryConstraint {
  construct new(variable, strength) { super(variable, strength) }
  isInput { true }
  execute() {}
}

// A constraint between two variables, satisfied in either direction.
class BinaryConstraint is Constraint {
  construct new(v1, v2, strength) {
    super(strength)
    _v1 = v1
    _v2 = v2
    _direction = NONE
    addConstraint()
  }

  v1 { _v1 }
  v2 { _v2 }
  direction { _direction }

  chooseMethod(mark) {
    if (_v1.mark == mark) {
      _direction = _v2.mark != mark && Strength.stronger(strength, _v2.walkStrength) ? FORWARD : NONE
      return
    }
    if (_v2.mark == mark) {
      _direction = _v1.mark != mark && Strength.stronger(strength, _v1.walkStrength) ? BACKWARD : NONE
      return
    }
    if (Strength.weaker(_v1.walkStrength, _v2.walkStrength)) {
      _direction = Strength.stronger(strength, _v1.walkStrength) ? BACKWARD : NONE
    } else {
      _direction = Strength.stronger(strength, _v2.walkStrength) ? FORWARD : BACKWARD
    }
  }

  addToGraph() {
    _v1.addConstraint(this)
    _v2.addConstraint(this)
    _direction = NONE
  }

  isSatisfied { _direction != NONE }
  markInputs(mark) { input.mark = mark }
  input { _direction == FORWARD ? _v1 : _v2 }
  output { _direction == FORWARD ? _v2 : _v1 }

  recalculate() {
    var ihn = input
    var out = output
    out.walkStrength = Strength.weakest(strength, ihn.walkStrength)
    out.stay = ihn.stay
    if (out.stay) execute()
  }

  markUnsatisfied() { _direction = NONE }

  inputsKnown(mark) {
    var i = input
    return i.mark == mark || i.stay || i.determinedBy == null
  }

  removeFromGraph() {
    if (_v1 != null) _v1.removeConstraint(this)
    if (_v2 != null) _v2.removeConstraint(this)
    _direction = NONE
  }
}

// dest = src * scale + offset, solved in either direction.
class ScaleConstraint is BinaryConstraint {
  construct new(src, scale, offset, dest, strength) {
    _scale = scale
    _offset = offset
    super(src, dest, strength)
  }

  addToGraph() {
    super.addToGraph()
    _scale.addConstraint(this)
    _offset.addConstraint(this)
  }

  removeFromGraph() {
    super.removeFromGraph()
    if (_scale != null) _scale.removeConstraint(this)
    if (_offset != null) _offset.removeConstraint(this)
  }

  markInputs(mark) {
    super.markInputs(mark)
    _scale.mark = mark
    _offset.mark = mark
  }

  execute() {
    if (direction == FORWARD) {
      v2.value = v1.value * _scale.value + _offset.value
    } else {
      v1.value = (v2.value - _offset.value) / _scale.value
    }
  }

  recalculate() {
    var ihn = input
    var out = output
    out.walkStrength = Strength.weakest(strength, ihn.walkStrength)
    out.stay = ihn.stay && _scale.stay && _offset.stay
    if (out.stay) execute()
  }
}

// v1 == v2.
class EqualityConstraint is BinaryConstraint {
  construct new(v1, v2, strength) { super(v1, v2, strength) }
  execute() { output.value = input.value }
}

class Variable {
  construct new(name, value) {
    _name = name
    _value = value
    _constraints = []
    _determinedBy = null
    _mark = 0
    _walkStrength = WEAKEST
    _stay = true
  }

  name { _name }
  constraints { _constraints }
  determinedBy { _determinedBy }
  determinedBy=(c) { _determinedBy = c }
  mark { _mark }
  mark=(m) { _mark = m }
  walkStrength { _walkStrength }
  walkStrength=(s) { _walkStrength = s }
  stay { _stay }
  stay=(s) { _stay = s }
  value { _value }
  value=(v) { _value = v }

  addConstraint(c) { _constraints.add(c) }

  removeConstraint(c) {
    _constraints = _constraints.where {|each| each != c }.toList
    if (_determinedBy == c) _determinedBy = null
  }
}

// A list of constraints to run in order.
class Plan {
  construct new() { _list = [] }
  addConstraint(c) { _list.add(c) }
  count { _list.count }

  execute() {
    for (c in _list) c.execute()
  }
}

class Planner {
  construct new() { _currentMark = 0 }

  incrementalAdd(c) {
    var mark = newMark()
    var overridden = c.satisfy(mark)
    while (overridden != null) overridden = overridden.satisfy(mark)
  }

  incrementalRemove(c) {
    var out = c.output
    c.markUnsatisfied()
    c.removeFromGraph()
    var unsatisfied = removePropagateFrom(out)
    var strength = REQUIRED
    while (true) {
      for (u in unsatisfied) {
        if (u.strength == strength) incrementalAdd(u)
      }
      strength = strength.nextWeaker
      if (strength == WEAKEST) break
    }
  }

  newMark() {
    _currentMark = _currentMark + 1
    return _currentMark
  }

  makePlan(sources) {
    var mark = newMark()
    var plan = Plan.new()
    var todo = sources
    while (todo.count > 0) {
      var c = todo.removeAt(-1)
      if (c.output.mark != mark && c.inputsKnown(mark)) {
        plan.addConstraint(c)
        c.output.mark = mark
        addConstraintsConsumingTo(c.output, todo)
      }
    }
    return plan
  }

  extractPlanFromConstraints(constraints) {
    var sources = []
    for (c in constraints) {
      if (c.isInput && c.isSatisfied) sources.add(c)
    }
    return makePlan(sources)
  }

  addPropagate(c, mark) {
    var todo = [c]
    while (todo.count > 0) {
      var d = todo.removeAt(-1)
      if (d.output.mark == mark) {
        incrementalRemove(c)
        return false
      }
      d.recalculate()
      addConstraintsConsumingTo(d.output, todo)
    }
    return true
  }

  removePropagateFrom(out) {
    out.determinedBy = null
    out.walkStrength = WEAKEST
    out.stay = true
    var unsatisfied = []
    var todo = [out]
    while (todo.count > 0) {
      var v = todo.removeAt(-1)
      for (c in v.constraints) {
        if (!c.isSatisfied) unsatisfied.add(c)
      }
      var determining = v.determinedBy
      for (next in v.constraints) {
        if (next != determining && next.isSatisfied) {
          next.recalculate()
          todo.add(next.output)
        }
      }
    }
    return unsatisfied
  }

  addConstraintsConsumingTo(v, coll) {
    var determining = v.determinedBy
    for (c in v.constraints) {
      if (c != determining && c.isSatisfied) coll.add(c)
    }
  }
}

var total = 0

// A chain of n equality constraints: editing the first variable moves the last.
var chainTest = Fn.new {|n|
  ThePlanner = Planner.new()
  var prev = null
  var first = null
  var last = null
  for (i in 0..n) {
    var v = Variable.new("v%(i)", 0)
    if (prev != null) EqualityConstraint.new(prev, v, REQUIRED)
    if (i == 0) first = v
    if (i == n) last = v
    prev = v
  }
  StayConstraint.new(last, STRONG_DEFAULT)
  var edit = EditConstraint.new(first, PREFERRED)
  var plan = ThePlanner.extractPlanFromConstraints([edit])
  for (i in 0...100) {
    first.value = i
    plan.execute()
    if (last.value != i) Fiber.abort("Chain test failed.")
    total = total + last.value
  }
}

var change = Fn.new {|v, newValue|
  var edit = EditConstraint.new(v, PREFERRED)
  var plan = ThePlanner.extractPlanFromConstraints([edit])
  for (i in 0...10) {
    v.value = newValue
    plan.execute()
  }
  edit.destroyConstraint()
}

// n scale constraints sharing one scale and one offset variable.
var projectionTest = Fn.new {|n|
  ThePlanner = Planner.new()
  var scale = Variable.new("scale", 10)
  var offset = Variable.new("offset", 1000)
  var src = null
  var dst = null
  var dests = []
  for (i in 0...n) {
    src = Variable.new("src%(i)", i)
    dst = Variable.new("dst%(i)", i)
    dests.add(dst)
    StayConstraint.new(src, NORMAL)
    ScaleConstraint.new(src, scale, offset, dst, REQUIRED)
  }
  change.call(src, 17)
  if (dst.value != 1170) Fiber.abort("Projection 1 failed")
  change.call(dst, 1050)
  if (src.value != 5) Fiber.abort("Projection 2 failed")
  change.call(scale, 5)
  for (i in 0...n - 1) {
    if (dests[i].value != i * 5 + 1000) Fiber.abort("Projection 3 failed")
  }
  change.call(offset, 2000)
  for (i in 0...n - 1) {
    if (dests[i].value != i * 5 + 2000) Fiber.abort("Projection 4 failed")
  }
  for (d in dests) total = total + d.value
}

for (i in 1..100) {
  chainTest.call(100)
  projectionTest.call(100)
}
System.print(total)
System.print("elapsed: %(System.clock - start)")
