<?php
$value = 41;
function explode_now() {
    throw new RuntimeException('conformance failure on purpose');
}
explode_now();
