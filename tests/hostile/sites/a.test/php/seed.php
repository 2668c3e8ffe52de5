<?php
// Class 10: seed the generator and leave it at the start of the seed-1 sequence.
mt_srand(1);
$seq = [];
for ($i = 0; $i < 20; $i++) {
    $seq[] = mt_rand(1, 1000000000);
}
mt_srand(1);
echo implode(' ', $seq), "\n";
