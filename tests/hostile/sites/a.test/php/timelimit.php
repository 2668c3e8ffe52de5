<?php
// Class 4: lift PHP's time limits from inside the page, then compute (for 30 s at most).
set_time_limit(0);
ini_set('max_execution_time', '0');
dynlan_log('warning', 'hostile-inflight ' . ($_GET['tag'] ?? ''));
$deadline = microtime(true) + 30;
$n = 0;
while (microtime(true) < $deadline) {
    $n++;
}
echo "survived $n\n";
