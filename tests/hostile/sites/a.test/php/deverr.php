<?php
// Class 8: an error naming a file and line outside this site, the way PHP names a page's own
// lines: the --dev error page must not show an excerpt of that file.
$target = (string)($_GET['target'] ?? '');
$line = (int)($_GET['line'] ?? 1);
if (($_GET['how'] ?? '') === 'trigger') {
    trigger_error("x in $target on line $line", E_USER_ERROR);
}
throw new Exception("x in $target on line $line ($target:$line)");
