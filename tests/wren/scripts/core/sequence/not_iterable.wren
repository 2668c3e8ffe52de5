class NotSequence is Sequence {
  construct new() {}
}
NotSequence.new().toList // expect runtime error: NotSequence does not implement 'iterate(_)'.
