# The express app started the way most node images start it: CMD ["npm", "start"].
# No ENTRYPOINT: the tests choose PID 1 at `docker run` (nothing, tini --,
# dumb-init, graceinit --), so the images differ in nothing else. In your own
# image: ENTRYPOINT ["graceinit", "--"].
# Built by `scripts/docker-images.sh real NAME` on the Debian base image.
ARG BASE
FROM ${BASE}
COPY graceinit /usr/local/bin/graceinit
COPY express/ /app/
WORKDIR /app
# No registry can be reached here; npm would otherwise look for updates.
ENV PORT=3000 NODE_ENV=production npm_config_update_notifier=false
EXPOSE 3000
CMD ["npm", "start"]
