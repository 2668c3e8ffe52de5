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
