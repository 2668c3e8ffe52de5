<?php
echo mt_rand(1, 1000000000), ' ', mt_rand(1, 1000000000), "\n";
