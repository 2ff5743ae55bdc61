//! php-fpm behind nginx, from Debian's packages (php8.2-fpm, nginx 1.22), the
//! usual two containers: nginx in front, FastCGI to the php-fpm container,
//! which is the one `docker stop` hits. A script that takes 3 s is in flight.
//!
//! php-fpm stops at once on SIGTERM (workers die mid-request: nginx answers
//! 502). Its graceful stop is SIGQUIT, but only with `process_control_timeout`
//! above 0: at the default 0 the master follows SIGQUIT with SIGTERM at once.
//! So the request finishes only with both: `graceinit -r TERM:QUIT` and
//! `process_control_timeout = 5`. Each half alone is shown to lose it.

use std::thread;
use std::time::Duration;

use crate::harness::{http_get, real_images, shared_machine, wait_until, Container};

const PHP_FPM: [&str; 2] = ["php-fpm8.2", "--nodaemonize"];
/// examples/php/php-fpm-timeout5.conf: the same with process_control_timeout = 5.
const TIMEOUT5: [&str; 2] = ["-y", "/etc/php/8.2/fpm/php-fpm-timeout5.conf"];

/// nginx's answer to the request in flight when the php-fpm container (its
/// command `pid1` + php-fpm + `conf`) was stopped; `None`: no answer.
fn in_flight(image: &str, pid1: &[&str], conf: &[&str]) -> Option<u16> {
    let mut args = vec![image];
    args.extend_from_slice(pid1);
    args.extend(PHP_FPM);
    args.extend_from_slice(conf);
    let php = Container::run("php-fpm", &args);
    php.wait_for_log("ready to handle connections");
    let host = format!("php:{}", php.ip());
    let nginx = Container::run("nginx", &["--add-host", &host, image, "nginx"]);
    let ip = nginx.ip();
    assert!(
        wait_until(Duration::from_secs(20), || http_get(&ip, 80, "/").is_some()),
        "nginx never answered; logs:\n{}",
        nginx.logs()
    );
    let request = thread::spawn(move || http_get(&ip, 80, "/slow.php?id=1"));
    assert!(
        wait_until(Duration::from_secs(20), || php.exec_status(&[
            "test",
            "-e",
            "/tmp/started-1"
        ])),
        "the request never reached php-fpm; logs:\n{}",
        php.logs()
    );
    let took = php.stop(10);
    assert!(
        took < Duration::from_secs(9),
        "{pid1:?}: docker stop took {took:?}"
    );
    request.join().unwrap()
}

#[test]
fn php_fpm_finishes_the_request_with_sigquit_and_a_timeout_and_only_then() {
    let Some(images) = real_images() else { return };
    let _machine = shared_machine();
    let graceinit: &[&str] = &["graceinit", "-r", "TERM:QUIT", "--"];
    let cases: [(&str, &[&str], &[&str], bool); 5] = [
        (
            "graceinit -r TERM:QUIT, process_control_timeout = 5",
            graceinit,
            &TIMEOUT5,
            true,
        ),
        ("no init", &[], &[], false),
        ("tini", &["tini", "--"], &[], false),
        (
            "no init, process_control_timeout = 5",
            &[],
            &TIMEOUT5,
            false,
        ),
        (
            "graceinit -r TERM:QUIT, process_control_timeout = 0",
            graceinit,
            &[],
            false,
        ),
    ];
    let results: Vec<Option<u16>> = thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|&(_, pid1, conf, _)| s.spawn(move || in_flight(&images.php, pid1, conf)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for ((label, _, _, finishes), status) in cases.iter().zip(results) {
        if *finishes {
            assert_eq!(status, Some(200), "{label}: the request in flight was lost");
        } else {
            assert_eq!(
                status,
                Some(502),
                "{label} did not reproduce the lost request (nginx's 502)"
            );
        }
    }
}
