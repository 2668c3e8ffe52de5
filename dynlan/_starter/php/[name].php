<?php
// /php/<name>: a PHP page. Try /php/world?greeting=Hello
require __DIR__ . '/../_lib/starter.php';

$name = dynlan_param('name');                    // from the file name, [name].php
$greeting = $_GET['greeting'] ?? 'Hello';        // from the query string
$visits = dynlan_cache_incr('starter:php', 1);   // kept by the server between requests

$said = '';
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    $said = '<p class=card>You said: <b>' . htmlspecialchars($_POST['message'] ?? '') . '</b></p>';
}

echo starter_page('PHP', $said
    . '<p>' . htmlspecialchars($greeting) . ', ' . htmlspecialchars($name) . '!</p>'
    . "<p>This page was visited $visits times.</p>"
    . '<form method="post"><input name="message" placeholder="Say something"> <button>Send</button></form>');
