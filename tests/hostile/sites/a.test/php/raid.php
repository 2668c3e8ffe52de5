<?php
// Class 5: the victim's cache entries by their names, and by names that might reach into its
// namespace: read them and, with ?op=, overwrite, delete or count them up.
$op = $_GET['op'] ?? '';
$keys = ['secret', 'counter', "b.test\0secret", "b.test\0counter", 'b.test:secret', 'b.test/secret', '../b.test/secret'];
$seen = [];
foreach ($keys as $k) {
    try {
        $seen[] = str_replace("\0", '\0', $k) . ' = ' . json_encode(dynlan_cache_get($k));
    } catch (Throwable $e) {
        $seen[] = str_replace("\0", '\0', $k) . ' = error';
    }
    try {
        if ($op === 'set') {
            dynlan_cache_set($k, 'pwned');
        } elseif ($op === 'delete') {
            dynlan_cache_delete($k);
        } elseif ($op === 'incr') {
            dynlan_cache_incr($k, 1000);
        }
    } catch (Throwable $e) {
    }
}
$all = implode("\n", $seen);
dynlan_cache_set('loot', $all);
echo $all, "\n";
