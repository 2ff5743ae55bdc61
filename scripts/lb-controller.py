#!/usr/bin/env python3
"""Keeps an HAProxy backend in step with Docker, as Traefik's Docker provider does.

scripts/rolling-update.sh (Compose, no Swarm) needs a load balancer that
follows container health: a container of the compose project gets traffic
while it is running and healthy, and loses it when its health check fails or
it stops. Polls the Docker API every 200 ms and drives HAProxy through its
runtime socket; writes the ids it routes to into STATE_FILE so the rollout
can wait for them.

usage: lb-controller.py COMPOSE_PROJECT HAPROXY_SOCKET BACKEND SLOTS STATE_FILE
"""

import http.client
import json
import os
import socket
import sys
import time
import urllib.parse

POLL_SECONDS = 0.2


class DockerConnection(http.client.HTTPConnection):
    def __init__(self):
        super().__init__("localhost")

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect("/var/run/docker.sock")


def routable(project):
    """Ids and IPs of the project's containers that are running and healthy."""
    filters = json.dumps({"label": [f"com.docker.compose.project={project}"]})
    conn = DockerConnection()
    conn.request("GET", "/v1.41/containers/json?filters=" + urllib.parse.quote(filters))
    containers = json.loads(conn.getresponse().read())
    conn.close()
    ready = {}
    for c in containers:
        if c["State"] == "running" and "(healthy)" in c["Status"]:
            ips = [n["IPAddress"] for n in c["NetworkSettings"]["Networks"].values() if n["IPAddress"]]
            if ips:
                ready[c["Id"]] = ips[0]
    return ready


def haproxy(sock_path, command):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(sock_path)
        s.sendall(command.encode() + b"\n")
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    reply = reply.decode().strip()
    if reply:
        print(f"lb-controller: haproxy: {command}: {reply}", file=sys.stderr)


def main():
    project, sock_path, backend, slots, state_file = sys.argv[1:6]
    free = [f"s{i}" for i in range(1, int(slots) + 1)]
    routed = {}  # container id -> slot
    while True:
        try:
            ready = routable(project)
        except (OSError, ValueError) as e:
            print(f"lb-controller: docker: {e}", file=sys.stderr)
            time.sleep(POLL_SECONDS)
            continue
        for cid in [c for c in routed if c not in ready]:
            slot = routed.pop(cid)
            haproxy(sock_path, f"set server {backend}/{slot} state maint")
            free.append(slot)
            print(f"{time.time():.3f} lb-controller: - {cid[:12]} ({slot})", file=sys.stderr)
        for cid, ip in ready.items():
            if cid not in routed and free:
                slot = free.pop(0)
                haproxy(sock_path, f"set server {backend}/{slot} addr {ip} port 8080")
                haproxy(sock_path, f"set server {backend}/{slot} state ready")
                routed[cid] = slot
                print(f"{time.time():.3f} lb-controller: + {cid[:12]} {ip} ({slot})", file=sys.stderr)
        with open(state_file + ".tmp", "w") as f:
            f.write("".join(c + "\n" for c in routed))
        # Renamed into place, so a reader never sees a half-written list.
        os.replace(state_file + ".tmp", state_file)
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    main()
