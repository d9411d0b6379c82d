#!/usr/bin/env bash
# Builds the .deb and uses it the way a campus admin would: contents and
# conffiles, the unit under systemd-analyze, dpkg -i, the installed binary
# serving /healthz as the uphill user against the installed config, a
# reinstall that must keep an edited config, then remove and purge.
#
# Runs as root (dpkg -i) and leaves the machine as it found it: it refuses to
# start if an uphill package or user already exists, and purges on any exit.
set -uo pipefail
cd "$(dirname "$0")/../.."

passed=0
failed=0
ok() { passed=$((passed + 1)); printf '  ok    %s\n' "$1"; }
bad() { failed=$((failed + 1)); printf '  FAIL  %s\n' "$1"; [[ -n ${2:-} ]] && printf '%s\n' "$2" | sed 's/^/        /'; return 0; }
# check "what" cmd...: runs cmd, counts it, shows its output only on failure.
check() {
  local what=$1 out
  shift
  if out=$("$@" 2>&1); then ok "$what"; else bad "$what" "$out"; fi
}
# Later steps make no sense without this one.
must() { check "$@"; ((failed == 0)) || finish; }
finish() {
  trap - EXIT
  cleanup
  if ((failed)); then
    echo "packaging: $passed passed, $failed failed"
    exit 1
  fi
  echo "packaging: $passed passed, 0 failed"
  exit 0
}

if ((EUID != 0)); then
  echo "tests/packaging/test.sh must run as root (it installs the package)" >&2
  exit 1
fi
if dpkg-query -W -f='${Status}' uphill 2>/dev/null | grep -qv 'not-installed'; then
  echo "an uphill package is already on this machine; not touching it" >&2
  exit 1
fi
if getent passwd uphill >/dev/null || getent group uphill >/dev/null; then
  echo "an uphill user or group already exists; not touching it" >&2
  exit 1
fi

tmp=$(mktemp -d)
server_pid=
touched_dpkg=
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  if [[ -n $touched_dpkg ]]; then
    dpkg -P uphill >/dev/null 2>&1 || true
    # A purge that failed half-way must not leave the account behind.
    getent passwd uphill >/dev/null && userdel uphill 2>/dev/null
    getent group uphill >/dev/null && groupdel uphill 2>/dev/null
    rm -rf /var/lib/uphill /var/log/uphill
  fi
  rm -rf "$tmp"
}
trap finish EXIT
trap 'bad "interrupted"; exit 1' INT TERM

stat_is() { # path expected-"mode owner:group"
  local got
  got=$(stat -c '%a %U:%G' "$1" 2>&1)
  [[ $got == "$2" ]] || { echo "$1: $got, want $2"; return 1; }
}

echo "-- build"
# Not through check: a first cargo-deb install takes minutes, so let its
# progress through.
if deb=$(scripts/package) && [[ -f $deb ]]; then
  ok "scripts/package builds $deb"
else
  bad "scripts/package builds a .deb"
  finish
fi

echo "-- contents"
dpkg-deb -c "$deb" >"$tmp/contents"
has() { # path [mode-string]
  local line
  line=$(awk -v p="./$1" '$6 == p' "$tmp/contents")
  [[ -n $line ]] || { echo "$1 not in package"; return 1; }
  [[ -z ${2:-} || $line == "$2"* ]] || { echo "$line (want $2)"; return 1; }
}
check "binary /usr/bin/uphill, 0755" has usr/bin/uphill -rwxr-xr-x
check "config /etc/uphill/config.toml, 0640" has etc/uphill/config.toml -rw-r-----
check "docs README.md" has usr/share/doc/uphill/README.md
check "docs config.example.toml" has usr/share/doc/uphill/config.example.toml
check "docs copyright" has usr/share/doc/uphill/copyright
unit_path=
for p in lib/systemd/system/uphill.service usr/lib/systemd/system/uphill.service; do
  has "$p" >/dev/null && unit_path=/$p
done
check "systemd unit in the package ($unit_path)" test -n "$unit_path"
check "packaged config is config.example.toml" \
  bash -c 'dpkg-deb --fsys-tarfile "$0" | tar -xO ./etc/uphill/config.toml | cmp - config.example.toml' "$deb"
dpkg-deb -x "$deb" "$tmp/root"
check "packaged binary is statically linked" \
  bash -c 'file -L "$0" | grep -q "statically linked" || file -L "$0"' "$tmp/root/usr/bin/uphill"
check "packaged unit is systemd/uphill.service" cmp "$tmp/root$unit_path" systemd/uphill.service

echo "-- control"
dpkg-deb -e "$deb" "$tmp/control"
check "conffiles lists /etc/uphill/config.toml once" \
  bash -c '[[ $(grep -cx /etc/uphill/config.toml "$0") == 1 ]] || cat "$0"' "$tmp/control/conffiles"
check "Section: web, Priority: optional" \
  bash -c 'grep -qx "Section: web" "$0" && grep -qx "Priority: optional" "$0" || cat "$0"' "$tmp/control/control"
# enable = false, start = false: on a first install nothing may enable or
# start the unit; only an upgrade may restart one that is already running.
# (deb-systemd-helper may re-enable a unit the admin had enabled before, and
# try-restart one that is running; neither starts anything new.)
check "postinst never starts the unit" \
  bash -c '! grep -nE "^[^#]*(deb-systemd-invoke (start|restart)|_dh_action=start|systemctl [^\"]*start)" "$0"/postinst' "$tmp/control"

echo "-- install"
touched_dpkg=1
dpkg_i() { dpkg -i "$deb" </dev/null >"$1" 2>&1 || { cat "$1"; false; }; }
must "dpkg -i" dpkg_i "$tmp/install.log"
check "first install says how to enable the service" \
  grep -q 'systemctl enable --now uphill' "$tmp/install.log"
check "system user uphill (nologin, home /var/lib/uphill)" \
  bash -c 'IFS=: read -r _ _ uid _ _ home shell < <(getent passwd uphill) && ((uid < 1000)) && [[ $home == /var/lib/uphill && $shell == */nologin ]] || getent passwd uphill'
check "group uphill" getent group uphill
check "unit not enabled by the install" \
  test ! -e /etc/systemd/system/multi-user.target.wants/uphill.service
check "/usr/bin/uphill 755 root:root" stat_is /usr/bin/uphill "755 root:root"
check "/etc/uphill/config.toml 640 root:uphill" stat_is /etc/uphill/config.toml "640 root:uphill"
check "/var/lib/uphill 750 uphill:uphill" stat_is /var/lib/uphill "750 uphill:uphill"
check "/var/log/uphill 750 uphill:uphill" stat_is /var/log/uphill "750 uphill:uphill"
check "unit installed at $unit_path" stat_is "$unit_path" "644 root:root"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
check "uphill version prints $version" bash -c '[[ $(/usr/bin/uphill version) == "uphill $0" ]]' "$version"

# Verified after install: systemd-analyze also checks that ExecStart= exists.
if command -v systemd-analyze >/dev/null; then
  check "systemd-analyze verify $unit_path" \
    bash -c 'out=$(systemd-analyze verify "$0" 2>&1); rc=$?; [[ $rc == 0 && -z $out ]] || { echo "exit $rc"; echo "$out"; false; }' "$unit_path"
  # 1.5 when written ("OK"); 2.0 catches a hardening line lost in an edit.
  check "systemd-analyze security: exposure at most 2.0" \
    systemd-analyze security --offline=true --threshold=20 --no-pager "$unit_path"
else
  echo "  SKIP  systemd-analyze verify and security: systemd-analyze is not installed (apt-get install systemd)"
fi

echo "-- run the installed binary as uphill"
# The same environment the unit sets, so the stock config works unedited.
# setpriv rather than runuser: it execs, as systemd does, so $! is the server
# itself and the exit status after SIGTERM is the server's (runuser forwards
# the signal and then dies of it, reporting 143 whatever the server did).
as_uphill() {
  setpriv --reuid=uphill --regid=uphill --init-groups env -C / \
    UPHILL_STORAGE__DATA_DIR=/var/lib/uphill UPHILL_LOG__DIR=/var/log/uphill "$@"
}
check "uphill check as uphill" as_uphill /usr/bin/uphill --config /etc/uphill/config.toml check
port=
for p in $(shuf -i 20000-60999 -n 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { port=$p; break; }
done
must "a free loopback port" test -n "$port"
# Not as_uphill: a function in the background is a subshell, and $! must be
# the server.
setpriv --reuid=uphill --regid=uphill --init-groups env -C / \
  UPHILL_STORAGE__DATA_DIR=/var/lib/uphill UPHILL_LOG__DIR=/var/log/uphill \
  UPHILL_SERVER__BIND="127.0.0.1:$port" \
  /usr/bin/uphill --config /etc/uphill/config.toml serve >"$tmp/serve.log" 2>&1 &
server_pid=$!
health=
for _ in $(seq 1 100); do
  health=$(curl -fsS --max-time 2 "http://127.0.0.1:$port/healthz" 2>/dev/null) && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
must "/healthz answers ok" bash -c '[[ $0 == ok ]] || cat "$1"' "$health" "$tmp/serve.log"
check "first-admin link printed" grep -q 'setup?token=' "$tmp/serve.log"
check "store written in /var/lib/uphill, owned by uphill" \
  bash -c '[[ -n $(find /var/lib/uphill -mindepth 1 -user uphill -print -quit) ]] || ls -laR /var/lib/uphill'
check "log file written in /var/log/uphill" \
  bash -c '[[ -n $(find /var/log/uphill -type f -user uphill -print -quit) ]] || ls -la /var/log/uphill'
kill -TERM "$server_pid"
rc=timeout
for _ in $(seq 1 150); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    wait "$server_pid"
    rc=$?
    break
  fi
  sleep 0.1
done
[[ $rc == timeout ]] || server_pid=
check "serve stops cleanly on SIGTERM (exit $rc)" test "$rc" = 0
# The README's recovery path when the first-admin link is lost.
check "user create --admin as uphill on the stopped store" \
  as_uphill /usr/bin/uphill --config /etc/uphill/config.toml user create --admin \
  --email admin@campus.example.edu --name "Packaging Admin"

echo "-- reinstall keeps an edited config"
echo '# edited by tests/packaging' >>/etc/uphill/config.toml
sed -i 's/^name = "Uphill Campus"$/name = "Packaging Test Campus"/' /etc/uphill/config.toml
must "dpkg -i again, without a conffile prompt" dpkg_i "$tmp/reinstall.log"
check "reinstall does not repeat the first-install hint" \
  bash -c '! grep -q "systemctl enable" "$0"' "$tmp/reinstall.log"
check "edited config kept" grep -qx 'name = "Packaging Test Campus"' /etc/uphill/config.toml
check "config still 640 root:uphill" stat_is /etc/uphill/config.toml "640 root:uphill"
check "store kept across reinstall" bash -c '[[ -n $(ls -A /var/lib/uphill) ]]'
checks_edited() {
  local out
  out=$(as_uphill /usr/bin/uphill --config /etc/uphill/config.toml check) || return 1
  grep -q 'Packaging Test Campus' <<<"$out"
}
check "uphill check reads the edited config" checks_edited

echo "-- remove, then purge"
must "dpkg -r uphill" dpkg -r uphill
check "binary gone after remove" test ! -e /usr/bin/uphill
check "config, data and user kept after remove" \
  bash -c 'test -f /etc/uphill/config.toml && test -d /var/lib/uphill && getent passwd uphill >/dev/null'
must "dpkg -P uphill" dpkg -P uphill
check "user and group gone after purge" bash -c '! getent passwd uphill && ! getent group uphill'
check "/var/lib/uphill and /var/log/uphill gone after purge" bash -c 'test ! -e /var/lib/uphill && test ! -e /var/log/uphill'
check "/etc/uphill gone after purge" test ! -e /etc/uphill
check "package not installed after purge" \
  bash -c '! dpkg-query -W -f="\${Status}" uphill 2>/dev/null | grep -q " installed"'

finish
