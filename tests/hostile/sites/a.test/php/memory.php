<?php
// Class 4: lift PHP's memory limit from inside the page, then allocate past the server's budget.
ini_set('memory_limit', '-1');
$mb = (int)($_GET['mb'] ?? 256);
$s = str_repeat('x', $mb * 1024 * 1024);
echo 'allocated ', strlen($s), "\n";
