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

# quote_in_readme MARKER FILE: put FILE, as a code block, between the
# README's <!-- MARKER:begin --> and <!-- MARKER:end --> lines.
quote_in_readme() {
    readme="$srcdir/README.md"
    [ -w "$readme" ] && grep -q "<!-- $1:begin -->" "$readme" || return 0
    { sed "/<!-- $1:begin -->/q" "$readme"
      echo '```'
      cat "$2"
      echo '```'
      sed -n "/<!-- $1:end -->/,\$p" "$readme"; } > "$readme.new" && mv "$readme.new" "$readme"
    echo "$0: README.md updated" >&2
}
