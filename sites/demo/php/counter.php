<?php
// /php/counter: the host cache and site files, shared with the Lua and Python pages.
$visits = dynlan_cache_incr('demo:visits', 1);
$motd = dynlan_cache_get('demo:motd');
if ($motd === null) {
    $motd = dynlan_fs_read('data/motd.txt');
    dynlan_cache_set('demo:motd', $motd, 30);
}
dynlan_log('info', "php counter page, visit $visits");
echo "<!doctype html><title>Cache and files</title><p>Visited $visits times (shared with /counter).</p>";
echo '<p>Message of the day: ' . htmlspecialchars($motd) . "</p>\n";
