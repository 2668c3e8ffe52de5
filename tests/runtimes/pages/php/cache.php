<?php
$key = 'conformance:' . $_GET['run'];
dynlan_cache_set($key, ['name' => 'box', 'items' => [1, 2, 3], 'nested' => ['ok' => true]], 60);
$value = dynlan_cache_get($key);
$value['items'][0] = 99; // a copy: the cached value must not change
$again = dynlan_cache_get($key);
$n1 = dynlan_cache_incr($key . ':n', 5);
$n2 = dynlan_cache_incr($key . ':n', 2);
dynlan_cache_delete($key);
$gone = dynlan_cache_get($key) === null ? 'nil' : 'set';
echo implode(' ', [$again['name'], $again['items'][0], $again['items'][2], $again['nested']['ok'] ? 'true' : 'false', $n1, $n2, $gone]);
