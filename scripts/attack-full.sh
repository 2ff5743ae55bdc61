#!/bin/sh
# The full-size attacks of issue 9, which CI runs reduced
# (tests/integration/hostile.rs): 10 million stop signals, 500,000 signals
# of five kinds during 10,000 double-forks, 200,000 orphans. Prints VmRSS
# before and after, zombies left and the stop time. Minutes of CPU: run it
# on a quiet machine, once, not in CI.
#
#   scripts/attack-full.sh            against this checkout's release build
#   GRACEINIT_UNDER_TEST=/path/to/init scripts/attack-full.sh
set -eu
cd "$(dirname "$0")/.."
cargo test --release --test integration --quiet -- --ignored --nocapture \
    --test-threads=1 hostile::full_ 2>&1 |
    grep -E 'VmRSS|zombies|stop in|sent in|^test |panicked|result'
