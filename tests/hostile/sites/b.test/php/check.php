<?php
// The victim reads its cache entries back: did anything of another site change them?
$secret = dynlan_fs_read('_secret.txt');
$same = dynlan_cache_get('secret') === $secret ? 'same' : 'changed';
$counter = dynlan_cache_get('counter') == 10 ? 'same' : 'changed';
echo "secret=$same counter=$counter\n";
