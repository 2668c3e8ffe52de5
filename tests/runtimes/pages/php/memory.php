<?php
$hoard = [];
while (true) { $hoard[] = str_repeat('x', 1024 * 1024); }
