# bench-lib.sh - sourced by the make bench/quality/bench-ioc scripts.

# unpack_corpora DIR NAME...: unpack ../shared/corpora/NAME.tar.zst into DIR
# and set $sets to "NAME=DIR/NAME ..." for the ones that exist.
unpack_corpora() {
    dir=$1; shift
    sets=""
    for name in "$@"; do
        [ -f "$corpora/$name.tar.zst" ] || continue
        tar -I zstd -xf "$corpora/$name.tar.zst" -C "$dir"
        sets="$sets $name=$dir/$name"
    done
    [ -n "$sets" ] || { echo "$0: no corpora at $corpora" >&2; exit 1; }
}

