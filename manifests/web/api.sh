#!/bin/sh
# Busybox httpd CGI: calls the api app by its name on the group network.
printf 'Content-Type: text/plain\r\n\r\n'
echo "web asked $API_URL and got: $(wget -qO- "$API_URL")"
echo "cache: ${REDIS_URL:+bound (REDIS_URL is set)}"
