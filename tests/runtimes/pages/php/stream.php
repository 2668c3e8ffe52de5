<?php
header('Content-Type: text/plain');
echo 'first;';
flush();
usleep(50000);
echo 'second;';
flush();
usleep(50000);
echo 'third';
