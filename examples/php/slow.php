<?php
// A request that takes 3 s: it is in flight when the container is stopped.
// It marks its start in /tmp so a test knows when to stop the container,
// and counts wall time itself (a signal cuts a plain sleep() short).
$id = preg_replace('/[^A-Za-z0-9_-]/', '', $_GET['id'] ?? 'x');
touch("/tmp/started-$id");
$start = microtime(true);
while (($left = $start + 3 - microtime(true)) > 0) {
    usleep((int) ($left * 1e6));
}
printf("done after %.2f s\n", microtime(true) - $start);
