class Util {
  static shout(s) { s.map {|c| c.bytes[0] >= 97 && c.bytes[0] <= 122 ? String.fromByte(c.bytes[0] - 32) : c }.join() + "!" }
}
