# php-fpm (the container that is stopped) and nginx (its own container in
# front, FastCGI to php:9000) from one image, as Debian ships them.
#   php-fpm: docker run IMAGE                       (php-fpm8.2 in the foreground)
#   nginx:   docker run --add-host php:IP IMAGE nginx
# Built by `scripts/docker-images.sh real NAME` on the Debian base image.
ARG BASE
FROM ${BASE}
COPY graceinit /usr/local/bin/graceinit
COPY php/php-fpm.conf php/php-fpm-workaround.conf /etc/php/8.2/fpm/
COPY php/www.conf /etc/php/8.2/fpm/pool.d/www.conf
COPY php/nginx.conf /etc/nginx/nginx.conf
COPY php/slow.php /var/www/html/slow.php
EXPOSE 9000 80
CMD ["php-fpm8.2", "--nodaemonize"]
