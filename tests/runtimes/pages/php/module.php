<?php
require __DIR__ . '/_lib/util.php';
echo shout('quiet') . "\n";
