<?php
// Shared by the PHP pages: require __DIR__ . '/../_lib/starter.php';
function starter_page(string $title, string $body): string {
    $t = htmlspecialchars($title);
    return "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>$t</title>"
        . "<link rel=\"stylesheet\" href=\"/assets/style.css\"></head><body><main><h1>$t</h1>"
        . "$body<p><a href=\"/\">Home</a></p></main></body></html>\n";
}
