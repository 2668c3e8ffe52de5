<?php
// Class 4: children that leave the page's session (setsid), by every road PHP has to start one.
$sleep = (string)($_GET['sleep'] ?? '');
if (!preg_match('/^[0-9]+\.[0-9]+$/', $sleep)) {
    http_response_code(400);
    exit;
}
$cmd = "setsid sleep $sleep > /dev/null 2>&1 &";
$tried = [];
$roads = [
    'exec' => fn() => exec($cmd),
    'shell_exec' => fn() => shell_exec($cmd),
    'system' => fn() => system($cmd),
    'passthru' => fn() => passthru($cmd),
    'popen' => fn() => pclose(popen($cmd, 'r')),
    'proc_open' => fn() => proc_open(['setsid', 'sleep', $sleep], [], $pipes),
    'pcntl_fork' => function () use ($sleep) {
        $pid = pcntl_fork();
        if ($pid === 0) {
            posix_setsid();
            pcntl_exec('/usr/bin/sleep', [$sleep]);
            posix_kill(posix_getpid(), 9); // never run PHP's shutdown on the parent's FastCGI socket
        }
        return $pid;
    },
];
foreach ($roads as $name => $road) {
    try {
        $road();
        $tried[] = "$name: called";
    } catch (Throwable $e) {
        $tried[] = "$name: " . get_class($e);
    }
}
echo implode("\n", $tried), "\n";
