// A site module: its class statics live as long as the worker and are shared by this site's
// requests (docs/wren.md). It must never be reachable from another site.
class Store {
  static keep(value) { __value = value }
  static value { __value }
}
