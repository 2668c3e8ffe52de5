<?php
// /php/hello: a PHP page, run by php-cgi. Try /php/hello?name=you
header('Content-Type: text/plain; charset=utf-8');
$name = $_GET['name'] ?? 'world';
echo "Hello, $name! (PHP)\n";
