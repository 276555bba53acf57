#!/usr/bin/env bash
# Install or update dashcart on Raspberry Pi OS (Bookworm, 64-bit) from this checkout.
#
#   sudo deploy/install.sh            install, or update after `git pull`
#   deploy/install.sh --dry-run       print what it would do; changes nothing (no root needed)
#
# Safe to run again: every step checks first and skips what is already done. It never
# overwrites /etc/dashcart/dashcart.toml once it exists. See docs/raspberry-pi.md.
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

# Runtime libraries the Python wheels do not bring: SDL's KMSDRM backend loads GBM/EGL from the
# system; fonts-nanum draws Hangul; bluez is the BLE stack bleak talks to over D-Bus.
# gcc/python3-dev/swig/liblgpio-dev build RPi.GPIO and lgpio where no aarch64 wheel exists.
APT_PACKAGES=(
    python3 python3-venv python3-dev gcc libc6-dev
    libgbm1 libdrm2 libegl1 libegl-mesa0 libgles2
    fonts-nanum fonts-dejavu-core
    bluez
    v4l-utils ca-certificates
    swig liblgpio-dev
)
CSI_APT_PACKAGES=(python3-picamera2 rpicam-apps-lite)

DRY_RUN=0
START=0
CSI=0

usage() {
    cat <<EOF
usage: $0 [--dry-run] [--start] [--csi] [--print-config]

Installs dashcart from $SRC:
  apt packages, the '$SERVICE_USER' user and its groups, a venv in $VENV with '.[pi]',
  $CONF (only if absent), and the systemd unit $UNIT_DST (enabled).

  --dry-run       print each step instead of doing it; needs no root, changes nothing
  --start         start the service at the end (an already running one is always restarted)
  --csi           also install picamera2 for CSI ribbon cameras (the venv then sees system packages)
  --print-config  print the default $CONF and exit
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

default_config() {
    local port="" ports=()
    if [ -d /dev/serial/by-id ]; then
        ports=(/dev/serial/by-id/*)
        [ -e "${ports[0]}" ] || ports=()
    fi
    # One serial device: that is the bridge. None or several: the engineer picks (doctor lists them).
    [ "${#ports[@]}" -eq 1 ] && port=${ports[0]}
    cat <<EOF
# dashcart configuration. Reference: docs/raspberry-pi.md (installed at $PREFIX/doc/).
# Unknown keys and bad values stop the cart at start with one line naming the key.
# \`dashcart calibrate\` rewrites this file keeping only non-default values (comments go).

[cart]
id = "cart-$(hostname -s 2>/dev/null || echo 0001)"
state_dir = "$STATE_DIR"

[scale]
backend = "serial"
protocol = "hx711-bridge"
# The bridge's stable name: ls -l /dev/serial/by-id/
port = "$port"
baudrate = 115200
EOF
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
    say "dashcart: installing from $SRC into $VENV"
    run "$VENV/bin/pip" install --quiet --upgrade pip
    # --upgrade: a re-run after `git pull` replaces the installed copy with the checkout's.
    run "$VENV/bin/pip" install --quiet --upgrade "${SRC}[pi]"
    run install -D -m 0644 "$SRC/docs/raspberry-pi.md" "$PREFIX/doc/raspberry-pi.md"
}

step_config() {
    run install -d -m 0755 "$CONF_DIR"
    if [ -e "$CONF" ]; then
        say "config $CONF: exists, kept as it is"
        # It may hold the store's credentials: readable by the service, no one else.
        run chgrp "$SERVICE_USER" "$CONF"
        run chmod 0640 "$CONF"
    else
        say "config $CONF: writing the default"
        default_config | write_file "$CONF" 0640 "root:$SERVICE_USER"
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
            --print-config) default_config; exit 0 ;;
            -h|--help) usage; exit 0 ;;
            *) usage >&2; die "unknown option $1" ;;
        esac
        shift
    done
    [ "$DRY_RUN" = 1 ] && say "dry run: nothing will be changed"
    step_preflight
    step_apt
    step_user
    step_venv
    step_config
    step_unit
    say "done. Check the cart with:"
    echo "    sudo -u $SERVICE_USER $VENV/bin/dashcart doctor --config $CONF"
    echo "    journalctl -u dashcart -f"
}

main "$@"
