<?php
// /php/items/ab-12: a route parameter from the file name.
header('Content-Type: application/json');
echo json_encode(['sku' => dynlan_param('sku'), 'in_stock' => true]);
