<?php
$x = 0;
for ($i = 0; $i < 1e12; $i++) { $x += $i; }
echo $x;
