#!/usr/bin/env bash
# Builds the sample releases used as test fixtures by beamops.deploy.
#
#   samples/build.sh [OUTDIR]        (default: <repo>/.build/releases)
#
# Output: OUTDIR/beamops_sample-<vsn>.tar.gz (rebar3/relx, with relups, see
# samples/beamops_sample/versions.txt), OUTDIR/beamops_ex-<vsn>.tar.gz
# (mix release, one per samples/beamops_ex/versions/<vsn>) and
# OUTDIR/SHA256SUMS. Scratch work goes to <repo>/.build/samples-work.
# Runs offline: no hex, no dependencies. Does nothing when every output
# is newer than every file under samples/.
set -euo pipefail

SAMPLES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_DIR="$(dirname "$SAMPLES_DIR")"
OUTDIR="${1:-$REPO_DIR/.build/releases}"
WORK="$REPO_DIR/.build/samples-work"

ERL_SRC="$SAMPLES_DIR/beamops_sample"
EX_SRC="$SAMPLES_DIR/beamops_ex"
ERL_REL=beamops_sample
EX_REL=beamops_ex

log() { printf '[samples] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- versions -----------------------------------------------------------------
# versions.txt columns: version based_on relup_from description...
ERL_VERSIONS=()
declare -A ERL_BASE=() ERL_FROM=()
while read -r vsn base from _; do
    [[ -z "$vsn" || "$vsn" == \#* ]] && continue
    [[ -d "$ERL_SRC/versions/$vsn" ]] || die "versions.txt: no versions/$vsn"
    ERL_VERSIONS+=("$vsn")
    ERL_BASE[$vsn]="$base"
    ERL_FROM[$vsn]="$from"
done < "$ERL_SRC/versions.txt"
mapfile -t EX_VERSIONS < <(find "$EX_SRC/versions" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V)
[[ ${#ERL_VERSIONS[@]} -gt 0 && ${#EX_VERSIONS[@]} -gt 0 ]] || die "no versions found"

OUTPUTS=()
for v in "${ERL_VERSIONS[@]}"; do OUTPUTS+=("$ERL_REL-$v.tar.gz"); done
for v in "${EX_VERSIONS[@]}"; do OUTPUTS+=("$EX_REL-$v.tar.gz"); done

# --- up to date? --------------------------------------------------------------
up_to_date() {
    local f
    [[ -f "$OUTDIR/SHA256SUMS" ]] || return 1
    for f in "${OUTPUTS[@]}"; do
        [[ -f "$OUTDIR/$f" ]] || return 1
        [[ -z "$(find "$SAMPLES_DIR" -newer "$OUTDIR/$f" -print -quit)" ]] || return 1
    done
}

if up_to_date; then
    echo "sample releases up to date"
    exit 0
fi

for tool in rebar3 erl mix elixir tar sha256sum; do
    command -v "$tool" >/dev/null || die "$tool not found"
done

START=$SECONDS
mkdir -p "$OUTDIR" "$WORK"
# Written again only when every tarball has been built.
rm -f "$OUTDIR/SHA256SUMS"

# Keep every tool off the network and out of $HOME.
export REBAR_OFFLINE=1
export REBAR_CACHE_DIR="$WORK/rebar3-cache"
export REBAR_GLOBAL_CONFIG_DIR="$WORK/rebar3-config"
export MIX_ENV=prod
export MIX_HOME="$WORK/mix-home"
export HEX_HOME="$WORK/hex-home"
export HEX_OFFLINE=1
MIX_REBAR3="$(command -v rebar3)"
export MIX_REBAR3

# run LOGNAME CMD...: output to a log, shown only on failure.
run() {
    local name="$1"; shift
    if ! "$@" >"$WORK/logs/$name.log" 2>&1; then
        tail -n 40 "$WORK/logs/$name.log" >&2
        die "failed: $* (log: $WORK/logs/$name.log)"
    fi
}

# check_tarball FILE [MUST_CONTAIN...]
check_tarball() {
    local tarball="$1" listing; shift
    listing="$(tar tzf "$tarball")"
    if grep -q '^\./' <<<"$listing"; then
        die "$tarball has ./ prefixes (release_handler cannot use it)"
    fi
    local want
    for want in "$@"; do
        grep -qxF "$want" <<<"$listing" || die "$tarball lacks $want"
    done
}

publish() {  # publish SRC NAME
    cp "$1" "$OUTDIR/.$2.tmp"
    mv -f "$OUTDIR/.$2.tmp" "$OUTDIR/$2"
    log "  -> $OUTDIR/$2 ($(du -h "$OUTDIR/$2" | cut -f1))"
}

# --- Erlang: beamops_sample ------------------------------------------------------
# overlay VSN DEST: the files of versions/VSN, after those of its based_on.
overlay() {
    local vsn="$1" dest="$2"
    if [[ "${ERL_BASE[$vsn]}" != "-" ]]; then
        overlay "${ERL_BASE[$vsn]}" "$dest"
    fi
    cp -R "$ERL_SRC/versions/$vsn/." "$dest/"
}

build_erlang() {
    local w="$WORK/$ERL_REL" vsn from tarball
    rm -rf "$w"
    mkdir -p "$w"
    for vsn in "${ERL_VERSIONS[@]}"; do
        from="${ERL_FROM[$vsn]}"
        if [[ "$from" == "-" ]]; then log "$ERL_REL $vsn"; else log "$ERL_REL $vsn (relup from $from)"; fi
        # Fresh sources; old releases stay in _build/prod/rel (relups need
        # them) but their bin/$ERL_REL-<vsn> scripts would leak into this
        # version's tarball.
        rm -rf "$w/src" "$w/ebin" "$w/config" "$w/rebar.config" \
            "$w/_build/prod/lib/$ERL_REL" "$w/_build/prod/rel/$ERL_REL/bin"
        cp -R "$ERL_SRC/src" "$ERL_SRC/config" "$ERL_SRC/rebar.config" "$w/"
        mkdir -p "$w/ebin"
        overlay "$vsn" "$w"
        sed -i "s/@VSN@/$vsn/g" "$w/rebar.config" "$w/src/$ERL_REL.app.src"
        if [[ "$from" != "-" && ! -f "$w/ebin/$ERL_REL.appup" ]]; then
            die "$vsn has a relup from $from but no ebin/$ERL_REL.appup"
        fi
        (
            cd "$w"
            # relup and tar each assemble the release first.
            if [[ "$from" == "-" ]]; then
                run "$ERL_REL-$vsn" rebar3 as prod tar -n "$ERL_REL" -v "$vsn"
            else
                run "$ERL_REL-$vsn" rebar3 as prod "do" \
                    relup -n "$ERL_REL" -v "$vsn" -u "$from", \
                    tar -n "$ERL_REL" -v "$vsn"
            fi
        )
        tarball="$w/_build/prod/rel/$ERL_REL/$ERL_REL-$vsn.tar.gz"
        [[ -f "$tarball" ]] || die "no $tarball"
        if [[ "$from" != "-" ]]; then
            check_tarball "$tarball" "releases/$vsn/relup" "releases/$vsn/$ERL_REL.rel"
        else
            check_tarball "$tarball" "releases/$vsn/$ERL_REL.rel"
        fi
        publish "$tarball" "$ERL_REL-$vsn.tar.gz"
    done
}

# --- Elixir: beamops_ex -------------------------------------------------------
build_elixir() {
    local w="$WORK/$EX_REL" vsn tarball
    rm -rf "$w"
    mkdir -p "$w"
    for vsn in "${EX_VERSIONS[@]}"; do
        log "$EX_REL $vsn"
        rm -rf "${w:?}/lib" "$w/rel" "$w/mix.exs" "$w/_build/prod/rel" "$w/_build/prod/$EX_REL-"*.tar.gz
        cp -R "$EX_SRC/lib" "$EX_SRC/rel" "$EX_SRC/mix.exs" "$w/"
        cp -R "$EX_SRC/versions/$vsn/." "$w/"
        sed -i "s/@VSN@/$vsn/g" "$w/mix.exs"
        (
            cd "$w"
            run "$EX_REL-$vsn" mix release --overwrite
        )
        tarball="$w/_build/prod/$EX_REL-$vsn.tar.gz"
        [[ -f "$tarball" ]] || die "no $tarball"
        check_tarball "$tarball" "releases/$vsn/$EX_REL.rel" "bin/$EX_REL"
        publish "$tarball" "$EX_REL-$vsn.tar.gz"
    done
}

# Both builds are independent: run them side by side.
rm -rf "$WORK/logs"
mkdir -p "$WORK/logs"
build_erlang & erl_pid=$!
build_elixir & ex_pid=$!
failed=0
wait "$erl_pid" || failed=1
wait "$ex_pid" || failed=1
[[ $failed -eq 0 ]] || die "build failed"

(
    cd "$OUTDIR"
    sha256sum "${OUTPUTS[@]}" > .SHA256SUMS.tmp
    mv -f .SHA256SUMS.tmp SHA256SUMS
)
log "done in $((SECONDS - START)) s: $OUTDIR"
