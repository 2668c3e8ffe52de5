// The host API for Wren pages (module "dynlan", imported into every page).
// Every call goes through Host.call to the host's one table of operations: the
// host answers at once, or, when it must wait on I/O, it keeps the calling
// fiber (passed along), the fiber suspends, and the host resumes it with the
// answer. Nothing here is stored between calls: this module is shared by every
// request in the VM, so it holds no state (no static fields) a page could use
// to reach another request's fiber or data.

class Host {
  foreign static call_(op, a, b, c, fiber)
  // The same call, made as a wait at once: the host answers it once the fiber has suspended.
  foreign static wait_(op, a, b, c, fiber)

  static call(op, a, b, c) { answer_(call_(op, plain_(a), plain_(b), plain_(c), Fiber.current)) }
  static call(op, a, b) { answer_(call_(op, plain_(a), plain_(b), null, Fiber.current)) }
  static call(op, a) { answer_(call_(op, plain_(a), null, null, Fiber.current)) }
  static call(op) { answer_(call_(op, null, null, null, Fiber.current)) }
  static wait(op, a, b) { answer_(wait_(op, plain_(a), plain_(b), null, Fiber.current)) }

  // The host answered, or returned Host: it holds the fiber and resumes it with [ok, answer].
  static answer_(r) {
    if (r == Host) {
      r = Fiber.suspend()
      if (!r[0]) Fiber.abort(r[1])
      r = r[1]
    }
    return maps_(r)
  }

  // Maps cross to the host as lists tagged "\0map", and come back as maps. A
  // list that itself starts with a tag gets the tag "\0list" in front.
  static plain_(v) {
    if (v is Map) {
      var out = ["\0map"]
      for (k in v.keys) out.add([k, plain_(v[k])])
      return out
    }
    if (v is List) {
      var out = v.map {|x| plain_(x) }.toList
      if (v.count > 0 && (v[0] == "\0map" || v[0] == "\0list")) out.insert(0, "\0list")
      return out
    }
    return v
  }
  static maps_(v) {
    if (v is List) {
      if (v.count > 0 && v[0] == "\0map") {
        var m = {}
        for (i in 1...v.count) m[v[i][0]] = maps_(v[i][1])
        return m
      }
      var items = v.map {|x| maps_(x) }.toList
      if (v.count > 0 && v[0] == "\0list") items.removeAt(0)
      return items
    }
    return v
  }
  static sleep(seconds) { call("sleep", seconds) }
}

class Request {
  static method { Host.call("req", "method") }
  static path { Host.call("req", "path") }
  static queryString { Host.call("req", "query_string") }
  static query { Host.call("req", "query") }
  static headers { Host.call("req", "headers") }
  static params { Host.call("req", "params") }
  static cookies { Host.call("req", "cookies") }
  static httpVersion { Host.call("req", "http_version") }
  static host { Host.call("req", "host") }
  static scheme { Host.call("req", "scheme") }
  static client { Host.call("req", "client") }
  static id { Host.call("req", "id") }
  static body { Host.call("body") }
  static form { Host.call("form") }
  static json { Host.call("json") }
}

class Response {
  static status { Host.call("get_status") }
  static status=(value) { Host.call("status", value) }
  static header(name, value) { Host.call("set_header", name, value) }
  static addHeader(name, value) { Host.call("add_header", name, value) }
  static setCookie(name, value) { Host.call("set_cookie", name, value) }
  static setCookie(name, value, options) { Host.call("set_cookie", name, value, options) }
  static write(text) { Host.call("write", text is String ? text : text.toString) }
  static redirect(location) { Host.call("redirect", location, 302) }
  static redirect(location, status) { Host.call("redirect", location, status) }
  static json(value) { Host.call("json_out", value) }
  static json(value, status) { Host.call("json_out", value, status) }
  static flush() { Host.call("flush") }
  static cache(ttl) { Host.call("cache_response", ttl) }
  static cache(ttl, options) { Host.call("cache_response", ttl, options) }
  static render(name, values) { Host.call("write", Host.call("template_render", name, values)) }
  // An event stream (docs/websocket.md): EventStream.start().
  static sse() { EventStream.start() }
}

class Template {
  // A template of the site rendered with a map of values (docs/templates.md): the text.
  static render(name) { Host.call("template_render", name, {}) }
  static render(name, values) { Host.call("template_render", name, values) }
}

class Cache {
  static get(key) { Host.call("cache_get", key) }
  static set(key, value) { Host.call("cache_set", key, value) }
  static set(key, value, ttl) { Host.call("cache_set", key, value, ttl) }
  static delete(key) { Host.call("cache_delete", key) }
  static incr(key) { Host.call("cache_incr", key, 1) }
  static incr(key, n) { Host.call("cache_incr", key, n) }
  static purge(what) { Host.call("cache_purge", what) }
}

class Session {
  // The visitor's session (docs/host-api.md): values kept across requests under a signed cookie.
  static get(key) { Host.call("session_get", key) }
  static set(key, value) { Host.call("session_set", key, value) }
  static delete(key) { Host.call("session_delete", key) }
  static delete() { Host.call("session_delete", null) }
  static regenerate() { Host.call("session_regenerate") }
}

class Fs {
  static read(path) { Host.call("fs_read", path) }
  static exists(path) { Host.call("fs_exists", path) }
  static list(path) { Host.call("fs_list", path) }
  static stat(path) { Host.call("fs_stat", path) }
}

class Log {
  static debug(message) { Host.call("log", "debug", message.toString) }
  static info(message) { Host.call("log", "info", message.toString) }
  static warn(message) { Host.call("log", "warn", message.toString) }
  static error(message) { Host.call("log", "error", message.toString) }
}

class Http {
  // options: {"method": , "url": , "headers": {}, "body": , "timeout": , "redirects": }
  // -> {"status": , "headers": {}, "body": , "url": }; a failure aborts the fiber.
  static request(options) { Host.call("http_request", null, options) }
  // The same, with a failure answered as {"error": message}: a call that waits cannot be caught by
  // Fiber.try (the waiting fiber is resumed by the host, not by the fiber that tried it).
  static tryRequest(options) {
    var r = Host.call_("http_request", null, Host.plain_(options), null, Fiber.current)
    if (r == Host) r = Fiber.suspend()
    return r[0] ? Host.maps_(r[1]) : {"error": r[1]}
  }
}

class Json {
  static encode(value) { Host.call("json_encode", value) }
  static decode(text) { Host.call("json_decode", text) }
}

// WebSockets, event streams and channels (docs/websocket.md). The objects are
// the request's own; they name its WebSocket, stream or subscription through
// the host, which knows them for that request only.
class WebSocket {
  // null when the request is no WebSocket handshake: the answer is then 426 unless the page writes its own.
  static accept() { accept(null) }
  static accept(options) {
    var r = Host.call("ws_accept", options)
    return r == null ? null : WebSocket.new_(r["protocol"])
  }
  construct new_(protocol) {
    _protocol = protocol
    _queued = false
    _kind = null
    _channel = null
  }
  protocol { _protocol }
  // What the last receive got: "text", "binary", "channel" (then `channel` names it) or "timeout".
  kind { _kind }
  channel { _channel }
  // The next message (a String; binary messages cross as text), or null once the connection is closed.
  receive() { receive_([], null) }
  receive(subscriptions) { subscriptions is Num ? receive_([], subscriptions) : receive_(subscriptions, null) }
  receive(subscriptions, timeout) { receive_(subscriptions, timeout) }
  receive_(subscriptions, timeout) {
    var ids = subscriptions.map {|s| s.id }.toList
    // Nothing of the peer's was read behind the last message (a peer that waits for each answer, as most do):
    // its next one is not here yet either, and the call waits for it at once.
    var r = _queued ? Host.call("ws_receive", ids, timeout) : Host.wait("ws_receive", ids, timeout)
    _queued = r != null && r["queued"] == true
    _kind = r == null ? null : r["kind"]
    _channel = r == null ? null : r["channel"]
    return r == null ? null : r["data"]
  }
  send(message) { Host.call("ws_send", message is String ? message : message.toString) }
  send(message, kind) { Host.call("ws_send", message is String ? message : message.toString, kind) }
  close() { Host.call("ws_close", 1000) }
  close(code, reason) { Host.call("ws_close", code, reason) }
}

class Subscription {
  construct new_(id, name) {
    _id = id
    _name = name
  }
  id { _id }
  name { _name }
  // The next message of the channel; null when `timeout` seconds passed first.
  receive() { Host.call("channel_receive", _id) }
  receive(timeout) { Host.call("channel_receive", _id, timeout) }
  close() { Host.call("channel_unsubscribe", _id) }
}

class Channel {
  static publish(name, message) { Host.call("channel_publish", name, message is String ? message : message.toString) }
  static subscribe(name) { Subscription.new_(Host.call("channel_subscribe", name), name) }
}

class EventStream {
  // The response becomes an event stream (text/event-stream), its head sent at once.
  static start() {
    var r = Host.call("sse_start")
    return EventStream.new_(r["last_event_id"])
  }
  construct new_(lastEventId) { _lastEventId = lastEventId }
  lastEventId { _lastEventId }
  // event: a Map of "event", "id", "data" and "retry", or the data alone.
  send(event) { Host.call("sse_send", event) }
  comment(text) { Host.call("sse_comment", text) }
}
