<?php
// Prepended to every PHP page by DynLan: the host API (cache, files, log).
// A connection to the site's own Unix socket starts with the request's token
// (128 random bits, valid on that socket only while the request runs); each
// call is then one JSON line, answered from DynLan's one host-call table with
// one JSON line.

function _dynlan_call(string $op, array $args = []) {
    static $conn = null;
    if ($conn === null) {
        $path = $_SERVER['DYNLAN_HOST_SOCKET'] ?? '';
        $conn = @stream_socket_client('unix://' . $path, $errno, $errstr, 5);
        if ($conn === false) {
            $conn = null;
            throw new RuntimeException("dynlan host is not reachable: $errstr");
        }
        fwrite($conn, ($_SERVER['DYNLAN_TOKEN'] ?? '') . "\n");  // the request this connection acts for
    }
    $line = json_encode(['op' => $op, 'args' => $args], JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE) . "\n";
    fwrite($conn, $line);
    $reply = fgets($conn);
    if ($reply === false) {
        $conn = null;
        throw new RuntimeException('dynlan host closed the connection');
    }
    $decoded = json_decode($reply, true);
    if (!is_array($decoded) || !($decoded['ok'] ?? false)) {
        throw new RuntimeException($decoded['error'] ?? 'dynlan host call failed');
    }
    return $decoded['value'] ?? null;
}

function dynlan_cache_get(string $key) { return _dynlan_call('cache_get', [$key]); }
function dynlan_cache_set(string $key, $value, $ttl = null) { return _dynlan_call('cache_set', [$key, $value, $ttl]); }
function dynlan_cache_delete(string $key) { return _dynlan_call('cache_delete', [$key]); }
function dynlan_cache_incr(string $key, $n = 1, $ttl = null) { return _dynlan_call('cache_incr', [$key, $n, $ttl]); }
function dynlan_cache_response($ttl, array $options = []) { return _dynlan_call('cache_response', [$ttl, (object)$options]); }
function dynlan_cache_purge($what) { return _dynlan_call('cache_purge', [$what]); }
function dynlan_fs_read(string $path) { return _dynlan_call('fs_read', [$path]); }
function dynlan_fs_exists(string $path) { return _dynlan_call('fs_exists', [$path]); }
function dynlan_fs_list(string $path = '.') { return _dynlan_call('fs_list', [$path]); }
function dynlan_fs_stat(string $path) { return _dynlan_call('fs_stat', [$path]); }
function dynlan_log(string $level, $message) { _dynlan_call('log', [$level, (string)$message]); }
// ['method' =>, 'url' =>, 'headers' => [name => value], 'body' =>, 'timeout' =>, 'redirects' =>]
// -> ['status' =>, 'headers' => [name => value], 'body' =>, 'url' =>]; bodies cross as base64 (the bridge is JSON).
function dynlan_http_request(array $options) {
    $body = $options['body'] ?? null;
    unset($options['body']);
    $options['base64'] = true;
    $options['headers'] = (object)($options['headers'] ?? []);
    $answer = _dynlan_call('http_request', [$body === null ? null : base64_encode((string)$body), (object)$options]);
    $answer['body'] = base64_decode($answer['body']);
    return $answer;
}
// A template of the site rendered with an array of values (docs/templates.md): the text; dynlan_render echoes it.
function dynlan_template_render(string $name, array $values = []) {
    return _dynlan_call('template_render', [$name, (object)$values]);
}
function dynlan_render(string $name, array $values = []) { echo dynlan_template_render($name, $values); }
function dynlan_param(string $name) { return $_SERVER['DYNLAN_PARAM_' . $name] ?? null; }
function dynlan_request_id() { return $_SERVER['DYNLAN_REQUEST_ID'] ?? ''; }
// The visitor's session (docs/host-api.md), shared with the site's pages in every language.
function dynlan_session_get(string $key) { return _dynlan_call('session_get', [$key]); }
function dynlan_session_set(string $key, $value) { return _dynlan_call('session_set', [$key, $value]); }
function dynlan_session_delete(?string $key = null) { return _dynlan_call('session_delete', [$key]); }
function dynlan_session_regenerate() { return _dynlan_call('session_regenerate', []); }

// PHP's own $_SESSION, kept in DynLan's session store (memory shared by the instance's workers, or Redis shared
// by every instance) rather than in files of one worker's php-cgi pool. Data crosses base64-encoded: the bridge
// is JSON, and a serialised session may hold any bytes.
// read() takes the session's lock and close() gives it back, as PHP's file handler does.
final class DynlanSessionHandler implements SessionHandlerInterface, SessionUpdateTimestampHandlerInterface {
    private ?string $id = null;
    public function open(string $path, string $name): bool { return true; }
    public function close(): bool {
        if ($this->id !== null) { _dynlan_call('php_session_close', [$this->id]); $this->id = null; }
        return true;
    }
    public function read(string $id): string|false {
        $data = _dynlan_call('php_session_read', [$id]);
        $this->id = $id;
        return $data === '' ? '' : (string)base64_decode($data);
    }
    public function write(string $id, string $data): bool {
        return (bool)_dynlan_call('php_session_write', [$id, base64_encode($data)]);
    }
    public function destroy(string $id): bool {
        if ($this->id === $id) { $this->id = null; }
        return (bool)_dynlan_call('php_session_destroy', [$id]);
    }
    public function gc(int $max_lifetime): int|false { return 0; }  // the store expires sessions itself
    public function validateId(string $id): bool { return (bool)_dynlan_call('php_session_exists', [$id]); }
    public function updateTimestamp(string $id, string $data): bool { return $this->write($id, $data); }
}
session_set_save_handler(new DynlanSessionHandler(), true);
// --dev: the page's peak memory, for the error page's budget table (after the page, whatever ended it).
if (($_SERVER['DYNLAN_DEV'] ?? '') === '1') {
    register_shutdown_function(static function () {
        try { _dynlan_call('dev_usage', ['memory', memory_get_peak_usage()]); } catch (Throwable $e) {}
    });
}
// An id the store does not know is not adopted (session fixation); the cookie is out of scripts' and other
// sites' reach.
ini_set('session.use_strict_mode', '1');
ini_set('session.cookie_httponly', '1');
ini_set('session.cookie_samesite', 'Lax');
if (($_SERVER['HTTPS'] ?? '') === 'on') { ini_set('session.cookie_secure', '1'); }

// WebSockets, channels and event streams (docs/websocket.md). One php-cgi process serves the connection for as
// long as it is open; what the page echoes after dynlan_ws_accept() has nowhere to go (use dynlan_ws_send).
// dynlan_ws_accept(): true, or false when the request is no WebSocket handshake (then 426 unless the page
// answers for itself).
function dynlan_ws_accept($protocol = null) {
    $r = _dynlan_call('ws_accept', [$protocol === null ? null : (object)['protocol' => $protocol]]);
    return $r !== null;
}
// The next message (string), or null once the connection is closed; $info gets ['kind' => text|binary|channel
// |timeout, 'channel' => name]. $subscriptions: numbers from dynlan_channel_subscribe.
function dynlan_ws_receive(array $subscriptions = [], $timeout = null, &$info = null) {
    $r = _dynlan_call('ws_receive', [$subscriptions, $timeout, 'base64']);
    // The CPU budget (max_execution_time) counts per message.
    @set_time_limit((int)ini_get('max_execution_time'));
    if ($r === null) { $info = null; return null; }
    $info = ['kind' => $r['kind'], 'channel' => $r['channel'] ?? null];
    if ($r['kind'] === 'binary') { return base64_decode($r['data']); }
    return $r['data'] ?? null;
}
// $kind: 'text', 'binary', or null (text when the string is valid UTF-8).
function dynlan_ws_send(string $message, ?string $kind = null) {
    if ($kind === 'binary' || ($kind === null && @preg_match('//u', $message) !== 1)) {
        return _dynlan_call('ws_send', [base64_encode($message), 'base64']);
    }
    return _dynlan_call('ws_send', [$message, 'text']);
}
function dynlan_ws_close(int $code = 1000, string $reason = '') { _dynlan_call('ws_close', [$code, $reason]); }
function dynlan_channel_publish(string $name, string $message) { return _dynlan_call('channel_publish', [$name, $message]); }
function dynlan_channel_subscribe(string $name) { return _dynlan_call('channel_subscribe', [$name]); }
function dynlan_channel_receive(int $subscription, $timeout = null) {
    $r = _dynlan_call('channel_receive', [$subscription, $timeout]);
    @set_time_limit((int)ini_get('max_execution_time'));
    return $r;
}
function dynlan_channel_unsubscribe(int $subscription) { _dynlan_call('channel_unsubscribe', [$subscription]); }
// The response becomes an event stream (its head goes out now): the Last-Event-ID the client sent ('' if none).
function dynlan_sse_start() { return _dynlan_call('sse_start', [])['last_event_id']; }
// ['event' =>, 'id' =>, 'data' =>, 'retry' =>], or the data alone.
function dynlan_sse_send($event) { _dynlan_call('sse_send', [is_array($event) ? (object)$event : $event]); }
function dynlan_sse_comment(string $text = '') { _dynlan_call('sse_comment', [$text]); }
