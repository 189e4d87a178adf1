#!/bin/sh
# Resolves upstreams per request through the compose network's DNS server (so a recreated
# container is found at its new address), then runs nginx in the foreground as PID 1
# (SIGTERM: fast shutdown, SIGQUIT: graceful).
set -eu
resolver=$(awk '$1 == "nameserver" && $2 !~ /:/ { print $2; exit }' /etc/resolv.conf)
: "${resolver:=127.0.0.11}"
sed "s/@RESOLVER@/$resolver/" /etc/lab-proxy/nginx.conf.template > /etc/nginx/nginx.conf
exec nginx -g 'daemon off;'
