<?php
$body = file_get_contents('php://input');
header('Content-Type: text/plain; charset=utf-8');
echo "method=" . $_SERVER['REQUEST_METHOD'] . "\n";
echo "path=" . parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH) . "\n";
echo "name=" . ($_GET['name'] ?? 'nil') . "\n";
echo "header=" . ($_SERVER['HTTP_X_TEST'] ?? 'nil') . "\n";
echo "body=" . $body . "\n";
echo "version=" . preg_replace('/\.0$/', '', substr($_SERVER['SERVER_PROTOCOL'], 5)) . "\n";
