<?php
// Class 4: another site's files through PHP's own file functions (not the host API): relative,
// absolute (error messages and phpinfo() tell a site where its neighbours are), stream wrappers,
// include, a copy into this site, and links planted here.
$victim = (string)($_GET['victim'] ?? '');
$root = dirname(__DIR__); // the site: this page is in php/
@ini_set('open_basedir', '/');
$targets = [
    '../../b.test/_secret.txt',
    $root . '/../b.test/_secret.txt',
    $victim . '/_secret.txt',
    'file://' . $victim . '/_secret.txt',
    'php://filter/resource=' . $victim . '/_secret.txt',
    'compress.zlib://' . $victim . '/_secret.txt',
    $root . '/link.txt',
];
@chdir('..');
$targets[] = '../b.test/_secret.txt';
$out = [];
foreach ($targets as $i => $t) {
    $out[] = "file_get_contents $t: " . var_export(@file_get_contents($t), true);
    $out[] = "file $t: " . var_export(@file($t), true);
    ob_start();
    @readfile($t);
    $out[] = "readfile $t: " . ob_get_clean();
    $h = @fopen($t, 'r');
    $out[] = "fopen $t: " . ($h ? fread($h, 200) : 'refused');
    ob_start();
    try {
        @include $t;
    } catch (Throwable $e) {
    }
    $out[] = "include $t: " . ob_get_clean();
    try {
        $spl = new SplFileObject($t);
        $out[] = "SplFileObject $t: " . $spl->fgets();
    } catch (Throwable $e) {
        $out[] = "SplFileObject $t: refused";
    }
    $out[] = "copy $t: " . var_export(@copy($t, "$root/copied-$i.txt"), true);
}
@symlink($victim . '/_secret.txt', $root . '/planted.txt');
foreach (['planted.txt', 'link.txt', '../b.test/_secret.txt', $victim . '/_secret.txt'] as $path) {
    try {
        $out[] = "dynlan_fs_read $path: " . dynlan_fs_read($path);
    } catch (Throwable $e) {
        $out[] = "dynlan_fs_read $path: refused";
    }
}
echo implode("\n", $out), "\n";
