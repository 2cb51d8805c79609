#!/usr/bin/env bash
# Builds the sample releases used as test fixtures by beamops.deploy.
#
#   samples/build.sh [OUTDIR]        (default: <repo>/.build/releases)
#
# Output: OUTDIR/beamops_sample-<vsn>.tar.gz (rebar3/relx, with relups, see
# samples/beamops_sample/versions.txt), OUTDIR/beamops_ex-<vsn>.tar.gz
# (mix release, one per samples/beamops_ex/versions/<vsn>), the stock
# releases OUTDIR/stock_rebar3-<vsn>.tar.gz (relup 0.1.0 -> 0.2.0) and
# OUTDIR/stock_mix-<vsn>.tar.gz, and OUTDIR/SHA256SUMS. Scratch work goes to
# <repo>/.build/samples-work. Runs offline: no hex, no dependencies. Each
# sample is rebuilt only when one of its files (or this script) is newer
# than one of its tarballs; nothing at all when every one is up to date.
set -euo pipefail

SAMPLES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_DIR="$(dirname "$SAMPLES_DIR")"
OUTDIR="${1:-$REPO_DIR/.build/releases}"
WORK="$REPO_DIR/.build/samples-work"

ERL_SRC="$SAMPLES_DIR/beamops_sample"
EX_SRC="$SAMPLES_DIR/beamops_ex"
ERL_REL=beamops_sample
EX_REL=beamops_ex
# Stock releases: the generators' trees, built as they are. Only the version
# changes between builds (the generators wrote 0.1.0), and 0.2.0 of the rebar3
# one gets its appup from stock_upgrades/ (copied into its ebin/).
STOCK_ERL_SRC="$SAMPLES_DIR/stock_rebar3"
STOCK_EX_SRC="$SAMPLES_DIR/stock_mix"
STOCK_UPGRADES="$SAMPLES_DIR/stock_upgrades"
STOCK_ERL_REL=stock_rebar3
STOCK_EX_REL=stock_mix
STOCK_BASE_VSN=0.1.0
STOCK_VERSIONS=(0.1.0 0.2.0)

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

ERL_OUTPUTS=() EX_OUTPUTS=() STOCK_ERL_OUTPUTS=() STOCK_EX_OUTPUTS=()
# <vsn>@<what> is a rebuild of release <vsn>: published as <name>-<vsn>+<what>.tar.gz.
for v in "${ERL_VERSIONS[@]}"; do ERL_OUTPUTS+=("$ERL_REL-${v/@/+}.tar.gz"); done
for v in "${EX_VERSIONS[@]}"; do EX_OUTPUTS+=("$EX_REL-$v.tar.gz"); done
for v in "${STOCK_VERSIONS[@]}"; do
    STOCK_ERL_OUTPUTS+=("$STOCK_ERL_REL-$v.tar.gz")
    STOCK_EX_OUTPUTS+=("$STOCK_EX_REL-$v.tar.gz")
done
OUTPUTS=("${ERL_OUTPUTS[@]}" "${EX_OUTPUTS[@]}" "${STOCK_ERL_OUTPUTS[@]}" "${STOCK_EX_OUTPUTS[@]}")

# --- up to date? --------------------------------------------------------------
# fresh OUTPUTS_ARRAY SOURCE...: every output exists and is newer than every
# file of the sources and than this script.
fresh() {
    local -n outs="$1"; shift
    local f
    for f in "${outs[@]}"; do
        [[ -f "$OUTDIR/$f" ]] || return 1
        [[ -z "$(find "$@" "$SAMPLES_DIR/build.sh" -newer "$OUTDIR/$f" -print -quit)" ]] || return 1
    done
}

declare -A STALE=()
fresh ERL_OUTPUTS "$ERL_SRC" || STALE[erlang]=1
fresh EX_OUTPUTS "$EX_SRC" || STALE[elixir]=1
fresh STOCK_ERL_OUTPUTS "$STOCK_ERL_SRC" "$STOCK_UPGRADES" || STALE[stock_rebar3]=1
fresh STOCK_EX_OUTPUTS "$STOCK_EX_SRC" || STALE[stock_mix]=1

if [[ ${#STALE[@]} -eq 0 && -f "$OUTDIR/SHA256SUMS" ]]; then
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
    local w="$WORK/$ERL_REL" vsn from tarball rel
    rm -rf "$w"
    mkdir -p "$w"
    for vsn in "${ERL_VERSIONS[@]}"; do
        from="${ERL_FROM[$vsn]}"
        rel="${vsn%%@*}"  # the release version (a hot patch build keeps its version)
        if [[ "$from" == "-" ]]; then log "$ERL_REL $vsn"; else log "$ERL_REL $vsn (relup from $from)"; fi
        # Fresh sources; old releases stay in _build/prod/rel (relups need
        # them) but their bin/$ERL_REL-<vsn> scripts would leak into this
        # version's tarball.
        rm -rf "$w/src" "$w/ebin" "$w/config" "$w/rebar.config" \
            "$w/_build/prod/lib/$ERL_REL" "$w/_build/prod/rel/$ERL_REL/bin"
        cp -R "$ERL_SRC/src" "$ERL_SRC/config" "$ERL_SRC/rebar.config" "$w/"
        mkdir -p "$w/ebin"
        overlay "$vsn" "$w"
        sed -i "s/@VSN@/$rel/g" "$w/rebar.config" "$w/src/$ERL_REL.app.src"
        if [[ "$from" != "-" && ! -f "$w/ebin/$ERL_REL.appup" ]]; then
            die "$vsn has a relup from $from but no ebin/$ERL_REL.appup"
        fi
        (
            cd "$w"
            # relup and tar each assemble the release first.
            if [[ "$from" == "-" ]]; then
                run "$ERL_REL-$vsn" rebar3 as prod tar -n "$ERL_REL" -v "$rel"
            else
                run "$ERL_REL-$vsn" rebar3 as prod "do" \
                    relup -n "$ERL_REL" -v "$rel" -u "$from", \
                    tar -n "$ERL_REL" -v "$rel"
            fi
        )
        tarball="$w/_build/prod/rel/$ERL_REL/$ERL_REL-$rel.tar.gz"
        [[ -f "$tarball" ]] || die "no $tarball"
        if [[ "$from" != "-" ]]; then
            check_tarball "$tarball" "releases/$rel/relup" "releases/$rel/$ERL_REL.rel"
        else
            check_tarball "$tarball" "releases/$rel/$ERL_REL.rel"
        fi
        publish "$tarball" "$ERL_REL-${vsn/@/+}.tar.gz"
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

# --- stock releases: stock_rebar3 and stock_mix -------------------------------
# stock_tree SRC DEST: the generator's tree (without a build left in it).
stock_tree() {
    local src="$1" dest="$2" entry
    for entry in "$src"/* "$src"/.[!.]*; do
        [[ -e "$entry" ]] || continue
        case "${entry##*/}" in _build | deps) continue ;; esac
        cp -R "$entry" "$dest/"
    done
}

# set_version FILE PATTERN VSN: PATTERN holds @VSN@ where the generator wrote
# $STOCK_BASE_VSN; refuses a file where it is not found.
set_version() {
    local file="$1" pattern="$2" vsn="$3" from to text
    from="${pattern//@VSN@/$STOCK_BASE_VSN}"
    to="${pattern//@VSN@/$vsn}"
    text="$(<"$file")"
    [[ "$text" == *"$from"* ]] || die "$file: no '$from' to set the version in"
    printf '%s\n' "${text/"$from"/"$to"}" > "$file"
}

build_stock_rebar3() {
    local w="$WORK/$STOCK_ERL_REL" rel="$STOCK_ERL_REL" vsn from="" tarball
    local app="$w/apps/$STOCK_ERL_REL"
    rm -rf "$w"
    mkdir -p "$w"
    for vsn in "${STOCK_VERSIONS[@]}"; do
        if [[ -z "$from" ]]; then log "$rel $vsn (stock)"; else log "$rel $vsn (stock, relup from $from)"; fi
        # Old releases stay in _build/prod/rel (the relup needs them), not their
        # bin/ scripts.
        find "$w" -mindepth 1 -maxdepth 1 ! -name _build -exec rm -rf {} +
        rm -rf "$w/_build/prod/lib/$rel" "$w/_build/prod/rel/$rel/bin"
        stock_tree "$STOCK_ERL_SRC" "$w"
        set_version "$w/rebar.config" "{$rel, \"@VSN@\"}" "$vsn"
        set_version "$app/src/$rel.app.src" "{vsn, \"@VSN@\"}" "$vsn"
        (
            cd "$w"
            if [[ -z "$from" ]]; then
                run "$rel-$vsn" rebar3 as prod tar -n "$rel" -v "$vsn"
            else
                [[ -f "$STOCK_UPGRADES/$rel-$vsn.appup" ]] || die "no stock_upgrades/$rel-$vsn.appup"
                mkdir -p "$app/ebin"
                cp "$STOCK_UPGRADES/$rel-$vsn.appup" "$app/ebin/$rel.appup"
                run "$rel-$vsn" rebar3 as prod "do" relup -n "$rel" -v "$vsn" -u "$from", tar -n "$rel" -v "$vsn"
            fi
        )
        tarball="$w/_build/prod/rel/$rel/$rel-$vsn.tar.gz"
        [[ -f "$tarball" ]] || die "no $tarball"
        if [[ -z "$from" ]]; then
            check_tarball "$tarball" "releases/$vsn/$rel.rel" "releases/$vsn/vm.args"
        else
            check_tarball "$tarball" "releases/$vsn/$rel.rel" "releases/$vsn/vm.args" "releases/$vsn/relup"
        fi
        publish "$tarball" "$rel-$vsn.tar.gz"
        from="$vsn"
    done
}

# mix release assembles _build/prod/rel/<name> and, as generated (no
# `releases:` in mix.exs), makes no tarball: pack that directory as mix's own
# :tar step would (bin, erts, lib, releases). Each version is assembled into a
# fresh directory holding only the releases/COOKIE mix made for the first one:
# what a developer's second `mix release` in the same _build reuses.
build_stock_mix() {
    local w="$WORK/$STOCK_EX_REL" rel="$STOCK_EX_REL" vsn tarball cookie="$WORK/$STOCK_EX_REL.COOKIE"
    local out="$w/_build/prod/rel/$STOCK_EX_REL"
    rm -rf "$w" "$cookie"
    mkdir -p "$w"
    for vsn in "${STOCK_VERSIONS[@]}"; do
        log "$rel $vsn (stock)"
        find "$w" -mindepth 1 -maxdepth 1 ! -name _build -exec rm -rf {} +
        rm -rf "$out"
        if [[ -f "$cookie" ]]; then
            mkdir -p "$out/releases"
            cp -p "$cookie" "$out/releases/COOKIE"
        fi
        stock_tree "$STOCK_EX_SRC" "$w"
        set_version "$w/mix.exs" 'version: "@VSN@"' "$vsn"
        (
            cd "$w"
            run "$rel-$vsn" mix release --overwrite
        )
        [[ -f "$out/releases/COOKIE" && -f "$out/releases/$vsn/$rel.rel" ]] || die "no release in $out"
        [[ -f "$cookie" ]] || cp -p "$out/releases/COOKIE" "$cookie"
        tarball="$w/_build/prod/$rel-$vsn.tar.gz"
        (
            cd "$out"
            tar -czf "$tarball" --owner=0 --group=0 --numeric-owner bin erts-* lib releases
        )
        check_tarball "$tarball" "releases/$vsn/$rel.rel" "releases/COOKIE" "bin/$rel"
        publish "$tarball" "$rel-$vsn.tar.gz"
    done
}

# Only what is out of date; the Erlang and Elixir builds side by side.
rm -rf "$WORK/logs"
mkdir -p "$WORK/logs"
build_erlang_side() {
    if [[ -n "${STALE[erlang]:-}" ]]; then build_erlang; fi
    if [[ -n "${STALE[stock_rebar3]:-}" ]]; then build_stock_rebar3; fi
}
build_elixir_side() {
    if [[ -n "${STALE[elixir]:-}" ]]; then build_elixir; fi
    if [[ -n "${STALE[stock_mix]:-}" ]]; then build_stock_mix; fi
}
build_erlang_side & erl_pid=$!
build_elixir_side & ex_pid=$!
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
