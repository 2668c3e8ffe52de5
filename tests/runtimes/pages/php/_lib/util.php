<?php
function shout(string $s): string { return strtoupper($s) . '!'; }
