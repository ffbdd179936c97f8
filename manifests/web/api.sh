#!/bin/sh
# Busybox httpd CGI: calls the api app by its name on the group network.
echo "Content-Type: text/plain"
echo
echo "web asked $API_URL and got: $(wget -qO- "$API_URL")"
