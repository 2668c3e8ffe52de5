// A superclass read from a map built in the class statement itself.
class Holder {
  static value { __value }
  static value=(v) { __value = v }
}
class Derived is (Holder.value = 42) {} // expect runtime error: Class 'Derived' cannot inherit from a non-class object.
