<?php
// @summary The server's time
// @param query format string One of "iso" (the default) or "unix"
// @response 200 application/json {"type": "object", "properties": {"time": {"type": ["string", "integer"]}}}
header('Content-Type: application/json');
$unix = time();
echo json_encode(['time' => ($_GET['format'] ?? 'iso') === 'unix' ? $unix : gmdate('c', $unix)]);
