<?php
// A victim PHP request that stays in flight for a while, holding a live host-API token.
dynlan_log('warning', 'hostile-inflight ' . ($_GET['tag'] ?? ''));
for ($i = 0; $i < 12; $i++) {
    usleep(100000);
}
echo "slow done\n";
