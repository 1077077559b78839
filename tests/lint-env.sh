# Sourced by the lint scripts (tests/lint-*.sh, tests/format-check.sh, tests/valgrind-unit.sh):
# locates the source tree, a configured build tree and the compiler flags the build uses, and
# decides whether a missing tool is a skip (77) or, with CI=true, a failure.
#
# Sets: src (absolute source tree), and provides
#   lint_need TOOL...          exit 77 (or 1 under CI=true) unless every TOOL is on PATH
#   lint_build                 sets build: $INGESTD_BUILDDIR when it holds a configured tree,
#                              else a fresh `configure` (no sanitizers) in a temp dir removed
#                              on exit
#   lint_make_var VAR...       prints the expanded make variables of $build, one word a line,
#                              shell-quoted words kept whole (e.g. -DSYSCONFDIR="/etc")
#   lint_cflags                fills the array CFLAGS_LINT with the flags src/**/*.c are compiled
#                              with, minus -Werror and the sanitizers; relative paths resolve
#                              from $build
#   lint_sources               fills SOURCES_LINT with src/**/*.c: every C file present, whether or
#                              not Makefile.am lists it yet
# It changes nothing in the source tree.

src=${INGESTD_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
src=$(cd "$src" && pwd)

lint_need()
{
    local t
    for t in "$@"; do
        if ! command -v "$t" >/dev/null 2>&1; then
            if [ "${CI:-}" = true ]; then
                echo "FAIL: $t is not installed (CI=true; tests/install-deps.sh installs it)"
                exit 1
            fi
            echo "SKIP: $t is not installed"
            exit 77
        fi
    done
}

lint_tmp=
lint_cleanup()
{
    [ -n "$lint_tmp" ] && rm -rf "$lint_tmp"
}
trap lint_cleanup EXIT

lint_build()
{
    if [ -n "${INGESTD_BUILDDIR:-}" ] && [ -f "$INGESTD_BUILDDIR/Makefile" ] &&
        [ -f "$INGESTD_BUILDDIR/config.h" ]; then
        build=$(cd "$INGESTD_BUILDDIR" && pwd)
        return 0
    fi
    lint_tmp=$(mktemp -d "${TMPDIR:-/tmp}/ingestd-lint.XXXXXX")
    build="$lint_tmp/build"
    mkdir -p "$build"
    if ! (cd "$build" && "$src/configure" -q >configure.out 2>&1); then
        echo "FAIL: configure failed in $build"
        tail -n 20 "$build/configure.out"
        exit 1
    fi
}

lint_make_var()
{
    local v words=
    for v in "$@"; do words="$words \$($v)"; done
    # printf in the recipe: the shell splits the words as make's own rules would. Each word is
    # marked, so that the output of a Makefile regeneration (automake, config.status) is dropped.
    printf 'lint-print-vars:\n\t@printf "LINTWORD %%s\\n" %s\n' "$words" |
        make -s -C "$build" -f Makefile -f - lint-print-vars 2>/dev/null |
        sed -n 's/^LINTWORD //p'
}

lint_cflags()
{
    local f
    CFLAGS_LINT=()
    while IFS= read -r f; do
        case "$f" in
            -Werror | -Werror=* | -fsanitize=* | -fno-sanitize* | -fno-omit-frame-pointer) ;;
            *) CFLAGS_LINT+=("$f") ;;
        esac
    done < <(lint_make_var DEFS DEFAULT_INCLUDES INCLUDES AM_CPPFLAGS CPPFLAGS AM_CFLAGS CFLAGS)
    if [ "${#CFLAGS_LINT[@]}" -eq 0 ]; then
        echo "FAIL: could not read the compiler flags from $build/Makefile"
        exit 1
    fi
}

lint_sources()
{
    mapfile -t SOURCES_LINT < <(find "$src/src" -name '*.c' | LC_ALL=C sort)
}
