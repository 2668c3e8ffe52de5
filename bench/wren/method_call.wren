// Method dispatch: getters, methods and overridden methods in a small hierarchy.

var start = System.clock

class Toggle {
  construct new(state) { _state = state }
  value { _state }
  activate() {
    _state = !_state
    return this
  }
}

class NthToggle is Toggle {
  construct new(state, limit) {
    super(state)
    _limit = limit
    _count = 0
  }
  activate() {
    _count = _count + 1
    if (_count >= _limit) {
      super.activate()
      _count = 0
    }
    return this
  }
}

var n = 200000
var val = true
var toggle = Toggle.new(val)
for (i in 0...n) {
  val = toggle.activate().value
  val = toggle.activate().value
  val = toggle.activate().value
  val = toggle.activate().value
  val = toggle.activate().value
  val = toggle.activate().value
  val = toggle.activate().value
  val = toggle.activate().value
  val = toggle.activate().value
  val = toggle.activate().value
}
System.print(toggle.value)

val = true
var ntoggle = NthToggle.new(val, 3)
for (i in 0...n) {
  val = ntoggle.activate().value
  val = ntoggle.activate().value
  val = ntoggle.activate().value
  val = ntoggle.activate().value
  val = ntoggle.activate().value
  val = ntoggle.activate().value
  val = ntoggle.activate().value
  val = ntoggle.activate().value
  val = ntoggle.activate().value
  val = ntoggle.activate().value
}
System.print(ntoggle.value)
System.print("elapsed: %(System.clock - start)")
