#!/usr/bin/env bash
# Install or update dashcart on Raspberry Pi OS (Bookworm, 64-bit) from this checkout.
#
#   sudo deploy/install.sh            install, or update after `git pull`
#   deploy/install.sh --dry-run       print what it would do; changes nothing (no root needed)
#
# Safe to run again: every step checks first and skips what is already done. It writes a
# complete /etc/dashcart/dashcart.toml from the parts it finds (scale port, cameras, Bluetooth
# adapter, GPIO) and what it is told or asks (store URL and keys, lane beacons); once that file
# exists it is kept unless --reconfigure. See docs/raspberry-pi.md.
set -euo pipefail

PREFIX=/opt/dashcart
VENV=$PREFIX/venv
CONF_DIR=/etc/dashcart
CONF=$CONF_DIR/dashcart.toml
STATE_DIR=/var/lib/dashcart
UNIT_NAME=dashcart.service
UNIT_DST=/etc/systemd/system/$UNIT_NAME
SERVICE_USER=dashcart
# serial scale, cameras, GPIO, touch input, GPU render nodes, BLE (the unit's SupplementaryGroups=)
SERVICE_GROUPS=(dialout video gpio input render bluetooth)
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Where the parts are looked for (tests point these at a made-up tree).
DEV=${DASHCART_DEV:-/dev}
SYS=${DASHCART_SYS:-/sys}
BLUEZ_CONF=${DASHCART_BLUEZ_CONF:-/etc/bluetooth/main.conf}

# Runtime libraries the Python wheels do not bring: SDL's KMSDRM backend loads GBM/EGL from the
# system; bluez is the BLE stack bleak talks to over D-Bus; systemd-timesyncd sets the clock the
# lane beacons' rotating ids are checked against (a Pi has no battery-backed clock).
# gcc/python3-dev/swig/liblgpio-dev build RPi.GPIO and lgpio where no aarch64 wheel exists.
# (No font package: dashcart ships its own font with Hangul.)
APT_PACKAGES=(
    python3 python3-venv python3-dev gcc libc6-dev
    libgbm1 libdrm2 libegl1 libegl-mesa0 libgles2
    bluez systemd-timesyncd
    v4l-utils ca-certificates
    swig liblgpio-dev
)
CSI_APT_PACKAGES=(python3-picamera2 rpicam-apps-lite)

DRY_RUN=0
START=0
CSI=0
RECONFIGURE=0
PRINT=0
# What the store provides (options, the environment, or asked at the terminal).
STORE_URL=${DASHCART_STORE_URL:-}
CART_KEY=${DASHCART_CART_KEY:-}
LANE_KEY=${DASHCART_LANE_KEY:-}
LANE_BEACONS=${DASHCART_LANE:-}

usage() {
    cat <<EOF
usage: $0 [--dry-run] [--start] [--csi] [--reconfigure] [--print-config]
          [--store-url URL] [--cart-key HEX] [--lane-key HEX] [--lane "KIND:ID KIND:ID"]

Installs dashcart from $SRC:
  apt packages, the '$SERVICE_USER' user and its groups, a venv in $VENV with '.[pi]',
  BlueZ's experimental mode (passive BLE scanning), network time,
  $CONF (only if absent, or --reconfigure), and the systemd unit $UNIT_DST (enabled).

The config names the parts found on this Pi (the scale's /dev/serial/by-id port, each USB
camera's /dev/v4l/by-id name, the Bluetooth adapter, the GPIO chip) and the store's settings,
taken from the options (or DASHCART_STORE_URL, DASHCART_CART_KEY, DASHCART_LANE_KEY,
DASHCART_LANE), else asked for at the terminal; what is still unknown is left empty with a
comment saying so, and \`dashcart doctor\` names it.

  --dry-run       print each step instead of doing it; needs no root, changes nothing
  --start         start the service at the end (an already running one is always restarted)
  --csi           also install picamera2 for CSI ribbon cameras (the venv then sees system packages)
  --reconfigure   write $CONF again from what is found now (the old one kept as .bak)
  --print-config  print the config it would write and exit
  --store-url     the store API's base URL (https://store.example/api)
  --cart-key      this cart's order-signing key, hex (from the store)
  --lane-key      the store's lane beacon key, hex
  --lane          the lane beacons, entry first: "eddystone-eid:lane1-entry eddystone-eid:lane1-exit"
EOF
}

say() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# Every change goes through run (or write_file), so --dry-run can show it instead.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        local arg line="+"
        for arg in "$@"; do
            # Quote only what needs it, so the line can be pasted back into a shell.
            if [[ $arg =~ ^[A-Za-z0-9_./=:,@%+-]+$ ]]; then line+=" $arg"; else line+=" $(printf '%q' "$arg")"; fi
        done
        printf '%s\n' "$line"
    else
        "$@"
    fi
}

# write_file DEST MODE OWNER:GROUP, content on stdin.
write_file() {
    local dest=$1 mode=$2 owner=$3 tmp
    if [ "$DRY_RUN" = 1 ]; then
        printf '+ write %s (mode %s, %s):\n' "$dest" "$mode" "$owner"
        sed 's/^/|   /'
        return
    fi
    tmp=$(mktemp "$dest.XXXXXX")
    cat >"$tmp"
    chmod "$mode" "$tmp"
    chown "$owner" "$tmp"
    mv -f "$tmp" "$dest"
}

# toml_list "a b": ["a", "b"]
toml_list() {
    local item out="" sep=""
    for item in $1; do out+="$sep\"$item\""; sep=", "; done
    printf '[%s]' "$out"
}

# ask VAR "question": fill an empty VAR at an interactive terminal (never in a dry run or a pipe).
ask() {
    local var=$1 question=$2 answer
    [ -n "${!var}" ] && return
    if [ "$DRY_RUN" = 0 ] && [ -t 0 ] && [ -t 2 ]; then
        read -r -p "$question (empty: leave it for later): " answer </dev/tty || answer=""
        printf -v "$var" '%s' "$answer"
    fi
}

# The backticks in the config's comments are text for the reader, not commands.
# shellcheck disable=SC2016
default_config() {
    local port="" ports=() cams=() cam adapter="" found chip="" i=0 host
    if [ -d "$DEV/serial/by-id" ]; then
        ports=("$DEV"/serial/by-id/*)
        [ -e "${ports[0]}" ] || ports=()
    fi
    # One serial device: that is the bridge. None or several: the engineer picks (doctor lists them).
    [ "${#ports[@]}" -eq 1 ] && port=${ports[0]}
    # USB cameras by their stable names; index0 is the picture, index1 a UVC metadata node.
    if [ -d "$DEV/v4l/by-id" ]; then
        for cam in "$DEV"/v4l/by-id/*-video-index0; do
            [ -e "$cam" ] && cams+=("$cam")
        done
    fi
    for found in "$SYS"/class/bluetooth/hci*; do
        if [ -e "$found" ]; then adapter=${found##*/}; break; fi
    done
    [ -e "$DEV/gpiochip0" ] && chip=yes
    host=$(hostname -s 2>/dev/null || echo 0001)
    printf '# dashcart configuration, written by deploy/install.sh from the parts it found.\n'
    printf '# Every setting, its default and meaning: `dashcart config --defaults` (docs/raspberry-pi.md,\n'
    printf '# section 8); what this cart runs with: `dashcart config --effective`.\n'
    printf '# Unknown keys and bad values stop the cart at start with one line naming the key.\n'
    printf '# `dashcart calibrate` changes only its two values here; comments and the rest stay.\n\n'
    # cart.id is at most 64 characters (the store API's cart_id); a hostname may be 63 on its own
    printf '[cart]\nid = "%.64s"\nstate_dir = "%s"\n\n' "cart-${host#cart-}" "$STATE_DIR"
    printf '[scale]\nbackend = "serial"\nprotocol = "hx711-bridge"\n'
    if [ -n "$port" ]; then
        printf '# found: the one device in %s/serial/by-id\nport = "%s"\n' "$DEV" "$port"
    else
        printf '# NOT FOUND: %s serial devices in %s/serial/by-id; set the bridge'"'"'s (ls -l %s/serial/by-id/)\nport = ""\n' \
            "${#ports[@]}" "$DEV" "$DEV"
    fi
    printf 'baudrate = 115200\n'
    # as root: the service's user may read this file but not write it (root:dashcart, 0640)
    printf '# offset and counts_per_gram: once the bridge is in, `sudo systemctl stop dashcart`, then\n'
    printf '# `sudo %s/bin/dashcart calibrate --config %s` (docs/raspberry-pi.md, section 6)\n\n' "$VENV" "$CONF"
    if [ "${#cams[@]}" -eq 0 ] && [ "$CSI" = 0 ]; then
        printf '# NOT FOUND: no USB camera in %s/v4l/by-id: the cart runs on weight and touch.\n' "$DEV"
        printf '# Plug them in and run `sudo deploy/install.sh --reconfigure`, or add [[cameras.devices]] tables.\n\n'
    fi
    for cam in "${cams[@]}"; do
        printf '[[cameras.devices]]\nid = "cam%d"\nbackend = "opencv"\nsource = "%s"\n\n' "$i" "$cam"
        i=$((i + 1))
    done
    if [ "$CSI" = 1 ]; then
        printf '[[cameras.devices]]\nid = "cam%d"\nbackend = "picamera2"\nsource = "0"\n\n' "$i"
    fi
    printf '[location]\nbackend = "bleak"\n'
    if [ -n "$adapter" ]; then
        printf 'adapter = "%s"\n' "$adapter"
    else
        printf '# NOT FOUND: no Bluetooth adapter in %s/class/bluetooth (rfkill? a USB dongle?)\nadapter = ""\n' "$SYS"
    fi
    printf '# The lane beacons, entry first (from the store): eddystone-eid ids, checked with checkout.lane_key\n'
    printf 'lane = %s\n' "$(toml_list "$LANE_BEACONS")"
    printf '# Zone beacons from the site survey: "<kind>:<id>" = "<catalogue zone>"\nzones = {}\n\n'
    printf '[checkout]\n'
    [ -n "$STORE_URL" ] || printf '# NOT SET: without a store this is a practice cart: nothing is charged\n'
    printf 'store_url = "%s"\n' "$STORE_URL"
    [ -n "$CART_KEY" ] || printf '# NOT SET: the key this cart signs orders with (hex, from the store)\n'
    printf 'cart_key = "%s"\n' "$CART_KEY"
    [ -n "$LANE_KEY" ] || printf '# NOT SET: the store'"'"'s lane beacon key (hex)\n'
    printf 'lane_key = "%s"\n\n' "$LANE_KEY"
    printf '# The status light and buzzer (wiring: docs/raspberry-pi.md, section 1), BCM pin numbers.\n[gpio]\n'
    if [ -n "$chip" ]; then
        printf 'pin_factory = "auto"\n'
    else
        printf '# NOT FOUND: no %s/gpiochip0 (not a Raspberry Pi?): no light or buzzer\npin_factory = "none"\n' "$DEV"
    fi
    printf 'red_pin = 17\ngreen_pin = 27\nblue_pin = 22\nbuzzer_pin = 23\n'
}

apt_missing() {
    # The packages of "$@" this system knows but has not installed (unknown names are reported,
    # not fatal: Debian without the Raspberry Pi archive lacks a few).
    local pkg
    for pkg in "$@"; do
        if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            continue
        fi
        if apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | grep -qv '(none)'; then
            printf '%s\n' "$pkg"
        else
            warn "apt has no package $pkg; skipping it"
        fi
    done
}

step_preflight() {
    if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
        die "run as root (sudo $0), or with --dry-run to see what it would do"
    fi
    local codename=""
    # shellcheck source=/dev/null
    [ -r /etc/os-release ] && codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [ "$codename" = bookworm ] || warn "made for Raspberry Pi OS / Debian bookworm; this is '${codename:-unknown}'"
    [ "$(uname -m)" = aarch64 ] || warn "made for 64-bit Raspberry Pi OS (aarch64); this is $(uname -m): some wheels may be missing"
    if [ ! -f "$SRC/setup.cfg" ] || [ ! -f "$SRC/systemd/$UNIT_NAME" ]; then
        die "$SRC is not a dashcart checkout"
    fi
}

step_apt() {
    if ! have dpkg-query || ! have apt-get; then
        warn "not a Debian system: install the equivalents of ${APT_PACKAGES[*]} yourself"
        return
    fi
    local wanted=("${APT_PACKAGES[@]}") missing
    [ "$CSI" = 1 ] && wanted+=("${CSI_APT_PACKAGES[@]}")
    mapfile -t missing < <(apt_missing "${wanted[@]}")
    if [ "${#missing[@]}" -eq 0 ]; then
        say "apt packages: all present"
        return
    fi
    say "apt packages: installing ${missing[*]}"
    run apt-get update
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

step_user() {
    local group
    for group in "${SERVICE_GROUPS[@]}"; do
        # The unit fails to start (216/GROUP) if a SupplementaryGroups= group does not exist.
        getent group "$group" >/dev/null || { say "group $group: creating"; run groupadd --system "$group"; }
    done
    if id -u "$SERVICE_USER" >/dev/null 2>&1; then
        say "user $SERVICE_USER: exists"
    else
        say "user $SERVICE_USER: creating"
        run useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
            --shell /usr/sbin/nologin --comment "dashcart smart cart" "$SERVICE_USER"
    fi
    # Also in /etc/group (not only the unit's SupplementaryGroups=) so that
    # `sudo -u dashcart dashcart doctor` sees the devices the service sees.
    local current="" missing=()
    current=" $(id -nG "$SERVICE_USER" 2>/dev/null || true) "
    for group in "${SERVICE_GROUPS[@]}"; do
        [[ $current == *" $group "* ]] || missing+=("$group")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        say "user $SERVICE_USER: adding to ${missing[*]}"
        run usermod --append --groups "$(IFS=,; echo "${missing[*]}")" "$SERVICE_USER"
    fi
}

step_venv() {
    if [ -x "$VENV/bin/python" ]; then
        say "venv $VENV: exists"
    else
        say "venv $VENV: creating"
        run install -d -m 0755 "$PREFIX"
        if [ "$CSI" = 1 ]; then
            # picamera2 and libcamera's Python bindings come from apt, not PyPI.
            run python3 -m venv --system-site-packages "$VENV"
        else
            run python3 -m venv "$VENV"
        fi
    fi
    if [ "$CSI" = 1 ] && [ -f "$VENV/pyvenv.cfg" ] && ! grep -q '^include-system-site-packages = true' "$VENV/pyvenv.cfg"; then
        # A venv made without --csi cannot see apt's picamera2: let it.
        say "venv $VENV: letting it see system packages (picamera2 comes from apt)"
        run sed -i 's/^include-system-site-packages = .*/include-system-site-packages = true/' "$VENV/pyvenv.cfg"
    fi
    # A build/ left by an earlier install would ship modules since deleted from the checkout.
    if [ -d "$SRC/build" ]; then
        say "dashcart: removing the stale $SRC/build"
        run rm -rf "$SRC/build"
    fi
    say "dashcart: installing from $SRC into $VENV"
    run "$VENV/bin/pip" install --quiet --upgrade pip
    # --upgrade: a re-run after `git pull` replaces the installed copy with the checkout's.
    run "$VENV/bin/pip" install --quiet --upgrade "${SRC}[pi]"
    run install -D -m 0644 "$SRC/docs/raspberry-pi.md" "$PREFIX/doc/raspberry-pi.md"
}

step_config() {
    run install -d -m 0755 "$CONF_DIR"
    if [ -e "$CONF" ] && [ "$RECONFIGURE" = 1 ]; then
        say "config $CONF: --reconfigure: keeping the old one as $CONF.bak"
        run cp -p "$CONF" "$CONF.bak"
    fi
    if [ -e "$CONF" ] && [ "$RECONFIGURE" = 0 ]; then
        say "config $CONF: exists, kept as it is"
        # It may hold the store's credentials: readable by the service, no one else.
        run chgrp "$SERVICE_USER" "$CONF"
        run chmod 0640 "$CONF"
    else
        ask STORE_URL "The store API's base URL (https://...)"
        ask CART_KEY "This cart's order-signing key (hex, from the store)"
        ask LANE_KEY "The store's lane beacon key (hex)"
        ask LANE_BEACONS "The lane beacons, entry first (eddystone-eid:lane1-entry eddystone-eid:lane1-exit)"
        say "config $CONF: writing it from the parts found"
        default_config | write_file "$CONF" 0640 "root:$SERVICE_USER"
    fi
}

# BlueZ's experimental D-Bus interfaces (the advertisement monitor) are what passive scanning
# with bleak's or_patterns needs; without them the scanner fails and retries for ever.
step_bluetooth() {
    if [ ! -e "$BLUEZ_CONF" ]; then
        warn "$BLUEZ_CONF is missing (bluez not installed?): passive BLE scanning needs Experimental = true there"
        return
    fi
    if grep -Eq '^[[:space:]]*Experimental[[:space:]]*=[[:space:]]*true' "$BLUEZ_CONF"; then
        say "bluetooth: experimental mode already on"
        return
    fi
    say "bluetooth: turning on BlueZ's experimental mode (Experimental = true in $BLUEZ_CONF)"
    if grep -Eq '^[#[:space:]]*Experimental[[:space:]]*=' "$BLUEZ_CONF"; then
        run sed -i -E '0,/^[#[:space:]]*Experimental[[:space:]]*=.*/s//Experimental = true/' "$BLUEZ_CONF"
    elif grep -q '^\[General\]' "$BLUEZ_CONF"; then
        run sed -i '/^\[General\]/a Experimental = true' "$BLUEZ_CONF"
    else
        run sed -i '1i [General]\nExperimental = true' "$BLUEZ_CONF"
    fi
    run systemctl restart bluetooth.service
}

# The lane's rotating beacon ids are checked against the clock: keep it synchronised.
step_time() {
    if [ "$(systemctl is-enabled systemd-timesyncd.service 2>/dev/null || true)" = enabled ]; then
        say "time: systemd-timesyncd enabled"
    else
        say "time: enabling network time (systemd-timesyncd)"
        run systemctl enable --now systemd-timesyncd.service
    fi
}

step_unit() {
    if cmp -s "$SRC/systemd/$UNIT_NAME" "$UNIT_DST"; then
        say "unit $UNIT_DST: up to date"
    else
        say "unit $UNIT_DST: installing"
        run install -m 0644 "$SRC/systemd/$UNIT_NAME" "$UNIT_DST"
        run systemctl daemon-reload
    fi
    if [ "$(systemctl is-enabled bluetooth.service 2>/dev/null || true)" != enabled ]; then
        say "bluetooth.service: enabling"
        run systemctl enable --now bluetooth.service
    fi
    if [ "$(systemctl is-enabled "$UNIT_NAME" 2>/dev/null || true)" = enabled ]; then
        say "unit $UNIT_NAME: enabled"
    else
        say "unit $UNIT_NAME: enabling (starts at boot)"
        run systemctl enable "$UNIT_NAME"
    fi
    if [ "$(systemctl is-active "$UNIT_NAME" 2>/dev/null || true)" = active ]; then
        say "unit $UNIT_NAME: restarting onto the new version"
        run systemctl restart "$UNIT_NAME"
    elif [ "$START" = 1 ]; then
        say "unit $UNIT_NAME: starting"
        run systemctl start "$UNIT_NAME"
    fi
}

main() {
    while [ $# -gt 0 ]; do
        case $1 in
            --dry-run) DRY_RUN=1 ;;
            --start) START=1 ;;
            --csi) CSI=1 ;;
            --reconfigure) RECONFIGURE=1 ;;
            --store-url) STORE_URL=${2:?--store-url needs a URL}; shift ;;
            --cart-key) CART_KEY=${2:?--cart-key needs a hex key}; shift ;;
            --lane-key) LANE_KEY=${2:?--lane-key needs a hex key}; shift ;;
            --lane) LANE_BEACONS=${2:?--lane needs beacon ids}; shift ;;
            --print-config) PRINT=1 ;;
            -h|--help) usage; exit 0 ;;
            *) usage >&2; die "unknown option $1" ;;
        esac
        shift
    done
    if [ "$PRINT" = 1 ]; then
        default_config
        exit 0
    fi
    [ "$DRY_RUN" = 1 ] && say "dry run: nothing will be changed"
    step_preflight
    step_apt
    step_user
    step_venv
    step_config
    step_bluetooth
    step_time
    step_unit
    say "done. Check the cart with:"
    echo "    sudo -u $SERVICE_USER $VENV/bin/dashcart doctor --config $CONF"
    echo "    journalctl -u dashcart -f"
}

main "$@"
