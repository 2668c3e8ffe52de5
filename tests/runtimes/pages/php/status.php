<?php
http_response_code(201);
header('X-Conformance: yes');
setcookie('flavour', 'oat', ['path' => '/', 'httponly' => true]);
echo 'created';
