<?php
echo trim(dynlan_fs_read('data/hello.txt')) . "\n";
echo (dynlan_fs_exists('data/hello.txt') ? 'true' : 'false') . ' ' . (dynlan_fs_exists('data/missing.txt') ? 'true' : 'false') . "\n";
try {
    dynlan_fs_read('../../../../etc/passwd');
    echo "outside=READ\n";
} catch (RuntimeException $e) {
    echo "outside=denied\n";
}
echo 'list=' . implode(',', dynlan_fs_list('data')) . "\n";
