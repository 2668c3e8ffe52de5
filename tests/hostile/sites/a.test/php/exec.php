<?php
// Class 4: run a shell command. "pwned-42" can only come from the shell: this source never has it.
$cmd = 'echo pwned-$((6*7))';
$fn = $_GET['fn'] ?? '';
try {
    switch ($fn) {
        case 'system':
            system($cmd);
            break;
        case 'exec':
            echo exec($cmd);
            break;
        case 'shell_exec':
            echo shell_exec($cmd);
            break;
        case 'passthru':
            passthru($cmd);
            break;
        case 'backticks':
            echo `$cmd`;
            break;
        case 'popen':
            $p = popen($cmd, 'r');
            echo fread($p, 100);
            pclose($p);
            break;
        case 'proc_open':
            $p = proc_open($cmd, [1 => ['pipe', 'w']], $pipes);
            echo stream_get_contents($pipes[1]);
            proc_close($p);
            break;
        case 'pcntl_fork':
            // The child becomes a shell that leaves its output in a file for the parent to show.
            $out = __DIR__ . '/pcntl-' . getmypid() . '.txt';
            $pid = pcntl_fork();
            if ($pid === 0) {
                pcntl_exec('/bin/sh', ['-c', "$cmd > $out"]);
                posix_kill(posix_getpid(), 9); // never run PHP's shutdown on the parent's FastCGI socket
            }
            pcntl_waitpid($pid, $status);
            echo file_get_contents($out);
            unlink($out);
            break;
        default:
            echo "unknown function\n";
    }
} catch (Throwable $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}
echo "\nend\n";
