<?php
// /templates/php: the same template every language renders (sites/demo/_tpl/languages.html).
$rows = [];
foreach ([['Lua', '.lua'], ['Wren', '.wren'], ['Python', '.py'], ['PHP', '.php'], ['Jinja', '.jinja']] as [$name, $suffix]) {
    $rows[] = ['name' => $name, 'suffix' => $suffix];
}
dynlan_render('_tpl/languages.html', ['language' => 'PHP', 'name' => $_GET['name'] ?? 'visitor', 'rows' => $rows]);
