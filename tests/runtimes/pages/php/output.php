<?php
$chunk = str_repeat('y', 1024);
while (true) { echo $chunk; }
