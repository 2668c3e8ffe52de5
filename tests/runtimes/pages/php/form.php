<?php
header('Content-Type: application/json');
echo json_encode(['name' => $_POST['name'], 'count' => (int)$_POST['count']]);
