<?php
// The victim keeps its secret and a counter in its site's cache.
dynlan_cache_set('secret', dynlan_fs_read('_secret.txt'));
dynlan_cache_set('counter', 10);
echo "stored\n";
