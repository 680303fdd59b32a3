# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# nginx.sh - a real nginx on loopback serving files, for the blob tests and scripts/bench-blob.sh
# (source after functions.sh). Debian's nginx-light (scripts/setup.sh installs it).
#
#   nginx_start VAR [WORKERS]  start nginx with a generated configuration in $TEST_TMP/nginx
#                              (never the system's), serving $TEST_TMP/nginx/www/ on 127.0.0.1
#                              at a free port, exported as $VAR; stopped on exit. Under
#                              /norange/ it ignores Range (max_ranges 0), as some servers do.
#   nginx_www                  the directory it serves (put files there)
#
# Access log: $TEST_TMP/nginx/access.log, one line per request: method, path, status, "Range",
# bytes sent, "x-ms-version" ("-" when absent).

nginx_www() { echo "$TEST_TMP/nginx/www"; }

# A free TCP port on 127.0.0.1 (the kernel's pick; nginx binds it right after).
_free_port()
{
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_nginx_conf()
{
	local d=$1 port=$2 workers=$3

	cat <<EOF
daemon off;
user root;
worker_processes $workers;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 1024; }
http {
	default_type application/octet-stream;
	log_format ranges '\$request_method \$uri \$status "\$http_range" \$body_bytes_sent "\$http_x_ms_version"';
	access_log $d/access.log ranges;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	keepalive_timeout 120s;
	server {
		listen 127.0.0.1:$port;
		root $d/www;
		location /norange/ { max_ranges 0; }
	}
}
EOF
}

nginx_start()
{
	local var=$1 workers=${2:-1} d="$TEST_TMP/nginx" port i pid

	requires nginx python3
	mkdir -p "$d/www" "$d/tmp"
	for _ in 1 2 3 4 5; do
		port=$(_free_port)
		_nginx_conf "$d" "$port" "$workers" >"$d/nginx.conf"
		nginx -c "$d/nginx.conf" -p "$d" -e "$d/error.log" 2>>"$d/error.log" &
		pid=$!
		for ((i = 0; i < 50; i++)); do
			if curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
				cleanup_fn _nginx_stop "$pid"
				printf -v "$var" '%s' "$port"
				export "${var?}"
				return 0
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	cat "$d/error.log" >&2
	fail "nginx did not start"
}

_nginx_stop()
{
	kill -QUIT "$1" 2>/dev/null || return 0
	wait "$1" 2>/dev/null || true
}
