#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The documentation describes the product, not how it was written, and cites nothing outside the
# repository: README.md and docs/ hold no development-history wording (sessions, issue numbers,
# "the lead"), no file outside the repository is cited (a shared folder beside it, an upper-case
# design file: the design contract is docs/design.md), and docs/index.md lists every page.
# Usage: tests/docs_check.sh [source-dir]   (exit 0: clean; 1: each finding printed)
set -u
root=${1:-$(dirname "$0")/..}
cd "$root" || { echo "docs_check: no such directory: $root" >&2; exit 2; }
fail=0

if hits=$(grep -rniE '\bsessions?\b|\bissues? #?[0-9]+|\bthe lead\b|\blead'"'"'s\b' README.md docs); then
  echo "docs_check: development-history wording in README.md or docs/:"
  echo "$hits"
  fail=1
fi

# Files outside the repository: every tracked file (or, without git, every file outside build
# folders), docs/design.md excepted (it is the file the references point to).
pattern_shared='\.\./shared'
pattern_design='DESIGN\.md'
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  hits=$(git grep -n -e "$pattern_shared" -e "$pattern_design" -- . ':!docs/design.md')
else
  hits=$(grep -rnE --exclude-dir='build*' --exclude-dir=.git --exclude=design.md \
         -e "$pattern_shared" -e "$pattern_design" .)
fi
if [ -n "$hits" ]; then
  echo "docs_check: references to files outside the repository (cite docs/design.md):"
  echo "$hits"
  fail=1
fi

# docs/index.md lists every page.
if [ ! -f docs/index.md ]; then
  echo "docs_check: docs/index.md is missing"
  fail=1
else
  for page in docs/*.md; do
    name=$(basename "$page")
    [ "$name" = index.md ] && continue
    if ! grep -q "($name)" docs/index.md; then
      echo "docs_check: docs/index.md does not link $name"
      fail=1
    fi
  done
fi

[ "$fail" = 0 ] && echo "docs_check: README.md and docs/ are clean; docs/index.md lists every page"
exit "$fail"
