<?php
$before = $GLOBALS['leaked'] ?? null;
$GLOBALS['leaked'] = 'set by an earlier request';
echo 'global=' . ($before === null ? 'nil' : $before) . ' string=clean';
