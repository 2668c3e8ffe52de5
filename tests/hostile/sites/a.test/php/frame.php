<?php
// Class 9: a status and headers the page takes from the query: 1xx statuses (also as a raw status
// line or a CGI Status header), header names that are not tokens, values with control characters.
if (isset($_GET['status'])) {
    http_response_code((int)$_GET['status']);
}
if (isset($_GET['raw'])) {
    header($_GET['raw']);
}
if (isset($_GET['name'])) {
    header($_GET['name'] . ': ' . ($_GET['value'] ?? 'x'));
} elseif (isset($_GET['value'])) {
    header('X-Hostile: ' . $_GET['value']);
}
echo "framed\n";
