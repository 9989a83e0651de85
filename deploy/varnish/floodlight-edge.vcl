vcl 4.1;
# Floodlight HLS edge on Varnish: a caching reverse proxy in front of one or
# more Floodlight nodes, the same behaviour as deploy/nginx/ (docs/cdn.md,
# "Varnish instead of nginx", explains every choice here).
#
# Why Varnish: it collapses concurrent misses on a waiting list and wakes
# the waiters the moment the object's headers arrive (the body streams to
# all of them), where nginx's proxy_cache_lock waiters poll every 500 ms.
#
# A template: `npm run edge -- --proxy varnish` (scripts/edge/varnishConfig.ts)
# fills in its fields (the names between double at-signs) and runs a private
# varnishd with it. To deploy by hand, replace them:
#   ORIGIN_BACKENDS  per origin, `backend origin_N { … }` and the same without
#                    the probe, `backend origin_N_unprobed { … }` (see below)
#   APP_BACKENDS     one `floodlight_app.add_backend(origin_N, 1.0);` per origin
#   CHOOSE_ORIGIN    the `floodlight_choose_origin` body: the first untried origin
#                    in preference order, healthy ones first (see that subroutine)
#   MAX_TRIES        origins one request may try: min(origins, 3), like nginx's
#                    proxy_next_upstream_tries 3
# and start varnishd with `-s malloc,<size>` (parts and segments of the last
# minutes of every room), `-p max_retries=<MAX_TRIES − 1 or more>` and
# `-p timeout_idle=65` (keep players' idle connections open like nginx's
# keepalive_timeout 65s: with Varnish's 5 s default, a player reusing a
# connection the edge has just closed sees a network error).

import std;
import directors;

# A dead node is marked sick after two failed probes (~2 s); until then, and
# for any other failure, a fetch error moves the request to the next origin.
# /healthz answers as long as the node's HTTP server runs. Probes only order
# the origins: a sick one is still tried when no healthy one is left (its
# unprobed twin), so a busy origin that answers a probe late loses nothing.
probe floodlight_origin_health {
    .url = "/healthz";
    .interval = 1s;
    .timeout = 2s;
    .window = 3;
    .threshold = 2;
    # Start healthy: no 503s in the first seconds after start-up.
    .initial = 2;
}

# Per origin (rendered; origin_0_unprobed is the same without .probe):
#   backend origin_0 {
#       .host = "127.0.0.1"; .port = "3000"; .probe = floodlight_origin_health;
#       # A dead origin costs at most 1 s before the next one is tried.
#       .connect_timeout = 1s;
#       # Outlast the longest blocking reload the origin may hold (3 target
#       # durations; 6 s targets → 18 s), as nginx's proxy_read_timeout 20s.
#       .first_byte_timeout = 20s;
#       .between_bytes_timeout = 20s;
#   }
@@ORIGIN_BACKENDS@@

sub vcl_init {
    # Pages, API and socket.io: sticky by client address (socket.io's
    # long-polling needs every request of a session on the node that holds
    # it), like nginx's ip_hash; a sick node's clients move to another.
    new floodlight_app = directors.hash();
@@APP_BACKENDS@@
}

# The first untried origin in preference order (backup origins after every
# primary), healthy ones first, then the sick ones unprobed; records it in
# X-Floodlight-Tried so that a retry takes the next one.
sub floodlight_choose_origin {
@@CHOOSE_ORIGIN@@
}

sub vcl_recv {
    # VarnishEdge.accessLog() asks for this mark and waits for its log line:
    # then every earlier request is in the log too.
    if (req.url ~ "^/\.floodlight-edge/log-mark/") {
        return (synth(204));
    }
    # Varnish itself appends the client's address to X-Forwarded-For, as
    # nginx's $proxy_add_x_forwarded_for.
    set req.http.X-Forwarded-Proto = "http";
    unset req.http.X-Floodlight-Tried;
    unset req.http.X-Floodlight-Cache;

    # Everything but /hls (pages, socket.io, API) passes through uncached, so
    # that the watch page works through the edge too.
    if (req.url !~ "^/hls/") {
        set req.backend_hint = floodlight_app.backend(client.ip);
        if (req.http.Upgrade ~ "(?i)websocket") {
            return (pipe);
        }
        return (pass);
    }
    # OPTIONS (CORS preflight) and anything else but GET/HEAD: not cached.
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }

    # The cache key names the object and the three LL-HLS delivery
    # directives, nothing else: a player's cache-busting parameter must not
    # split the collapsing, and `_HLS_msn=5&_HLS_part=2` in any order is the
    # same answer. The same key as the nginx edge's, so the access logs read
    # alike (scripts/edge/accessLog.ts).
    set req.http.X-Floodlight-Key = regsub(req.url, "[?#].*$", "") + "?msn=";
    if (req.url ~ "[?&]_HLS_msn=") {
        set req.http.X-Floodlight-Key = req.http.X-Floodlight-Key + regsub(req.url, "^.*[?&]_HLS_msn=([^&#]*).*$", "\1");
    }
    set req.http.X-Floodlight-Key = req.http.X-Floodlight-Key + "&part=";
    if (req.url ~ "[?&]_HLS_part=") {
        set req.http.X-Floodlight-Key = req.http.X-Floodlight-Key + regsub(req.url, "^.*[?&]_HLS_part=([^&#]*).*$", "\1");
    }
    set req.http.X-Floodlight-Key = req.http.X-Floodlight-Key + "&skip=";
    if (req.url ~ "[?&]_HLS_skip=") {
        set req.http.X-Floodlight-Key = req.http.X-Floodlight-Key + regsub(req.url, "^.*[?&]_HLS_skip=([^&#]*).*$", "\1");
    }
    std.log("key:" + req.http.X-Floodlight-Key);

    # Grace: while some origin is up, an expired live playlist is served at
    # most 1 s stale while one background fetch refreshes it (nginx's
    # `proxy_cache_use_stale updating`); later than that, it is a miss and the
    # players wait on the waiting list for the fresh one. With every origin
    # down, whatever grace the object has left (vcl_backend_response).
    set req.backend_hint = floodlight_app.backend(client.ip);
    if (std.healthy(req.backend_hint)) {
        set req.grace = 1s;
    }
    # Cookies and Authorization do not make /hls uncacheable (nginx caches
    # regardless of them too); the origin still receives them on a miss.
    return (hash);
}

sub vcl_hash {
    if (req.http.X-Floodlight-Key) {
        hash_data(req.http.X-Floodlight-Key);
        return (lookup);
    }
}

sub vcl_hit {
    if (obj.ttl <= 0s) {
        set req.http.X-Floodlight-Cache = "STALE";
    } else {
        set req.http.X-Floodlight-Cache = "HIT";
    }
}

sub vcl_miss {
    set req.http.X-Floodlight-Cache = "MISS";
}

sub vcl_pass {
    set req.http.X-Floodlight-Cache = "PASS";
}

sub vcl_pipe {
    # WebSocket upgrade for socket.io (the watch page through the edge).
    if (req.http.Upgrade) {
        set bereq.http.Upgrade = req.http.Upgrade;
        set bereq.http.Connection = req.http.Connection;
    }
}

sub vcl_backend_fetch {
    if (bereq.url ~ "^/hls/") {
        if (bereq.retries == 0) {
            std.log("key:" + bereq.http.X-Floodlight-Key);
        }
        call floodlight_choose_origin;
    }
    unset bereq.http.X-Floodlight-Key;
    unset bereq.http.X-Floodlight-Cache;
}

sub vcl_backend_response {
    set bereq.http.X-Floodlight-Statuses = bereq.http.X-Floodlight-Statuses + " " + beresp.status;
    if (bereq.url !~ "^/hls/") {
        set bereq.http.X-Floodlight-Tried = beresp.backend.name;
        call floodlight_log_origins;
        return (deliver);
    }
    # The next origin may have it: media also on 404 (an origin that does not
    # record that room, or lost the object), like nginx's proxy_next_upstream.
    # A held blocking reload that the origin answers 503 (not in time) goes to
    # the players, who retry; it is not retried elsewhere.
    if (bereq.retries + 1 < @@MAX_TRIES@@ &&
        (beresp.status == 502 || beresp.status == 504 ||
         (bereq.url !~ "\.m3u8(\?|$)" && (beresp.status == 404 || beresp.status == 500 || beresp.status == 503)))) {
        return (retry);
    }
    call floodlight_log_origins;
    # Stale-if-error: an origin error for an object we still hold in grace
    # (a background refresh) keeps the stale copy rather than replacing it.
    if (bereq.is_bgfetch && beresp.status >= 500) {
        return (abandon);
    }
    # Streamed to every waiter as it arrives (default in Varnish 7; stated).
    set beresp.do_stream = true;
    if (beresp.status >= 400) {
        # Errors (`no-store` from the origin): kept 1 s, not the builtin 2 min
        # of hit-for-miss. The players waiting on the waiting list for this
        # key share this one answer (an uncacheable answer would send each of
        # them to the origin in turn); 1 s later the key is asked again, so a
        # 404 of a part that does not exist yet cannot stick. The players
        # still get the origin's `no-store`.
        set beresp.ttl = 1s;
        set beresp.grace = 0s;
        set beresp.keep = 0s;
        return (deliver);
    }
    # Otherwise the origin's Cache-Control decides (Varnish computed
    # beresp.ttl from max-age): media a year, live playlist 1 s, blocking
    # reload answer 6 s (cacheable, so that the waiters share it), master 2 s,
    # ended playlist 30 s. Grace: how long a copy may be served once every
    # origin is down (stale-if-error) — media for an hour (their names never
    # change), playlists 30 s.
    if (bereq.url ~ "\.m3u8(\?|$)") {
        set beresp.grace = 30s;
    } else {
        set beresp.grace = 1h;
    }
    # An answer the origin marks uncacheable (none of /hls does today) passes
    # through as is; never hit-for-miss for long, which would un-collapse.
    if (beresp.ttl <= 0s || beresp.http.Cache-Control ~ "(?i)no-store|no-cache|private") {
        set beresp.uncacheable = true;
        set beresp.ttl = 1s;
        set beresp.grace = 0s;
    }
    return (deliver);
}

sub vcl_backend_error {
    # Refused, reset or timed out: the next origin, if there is one left.
    if (bereq.url ~ "^/hls/" && bereq.retries + 1 < @@MAX_TRIES@@) {
        set bereq.http.X-Floodlight-Statuses = bereq.http.X-Floodlight-Statuses + " -";
        return (retry);
    }
    # "-": this origin gave no answer either; the 503 below is the edge's own.
    set bereq.http.X-Floodlight-Statuses = bereq.http.X-Floodlight-Statuses + " -";
    call floodlight_log_origins;
    # A failed background refresh keeps the stale copy (stale-if-error).
    if (bereq.is_bgfetch) {
        return (abandon);
    }
    # Kept 1 s for the same reason as an origin's error (vcl_backend_response):
    # the players on the waiting list share this answer instead of each going
    # to the dead origins in turn; the players get `no-store`.
    set beresp.http.Cache-Control = "no-store";
    set beresp.ttl = 1s;
    set beresp.grace = 0s;
    set beresp.keep = 0s;
    return (deliver);
}

# The origins tried and their answers, for the access log (VarnishEdge).
sub floodlight_log_origins {
    std.log("upstreams:" + bereq.http.X-Floodlight-Tried);
    std.log("ustatus:" + bereq.http.X-Floodlight-Statuses);
}

sub vcl_deliver {
    # Like nginx's $upstream_cache_status: HIT, STALE, MISS or PASS.
    if (req.http.X-Floodlight-Cache) {
        set resp.http.X-Edge-Cache = req.http.X-Floodlight-Cache;
    }
    # Everything else the origin sends goes through as is: Cache-Control,
    # ETag and the CORS headers (the edge adds none and removes none). Varnish
    # adds Age (the players' hls.js reads it), Via and X-Varnish.
}

sub vcl_synth {
    if (resp.status == 204) {
        return (deliver);
    }
}
