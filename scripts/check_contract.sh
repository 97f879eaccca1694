#!/usr/bin/env bash
# Contract check for CI (run by `./dev test`): buf lint, then buf breaking against the previous
# commit of main. Skips the breaking check, saying why, when there is no such commit or it has
# no protos yet (the contract's first commit cannot break anything).
#   BUF='command'  the buf to run (default: ./dev buf, which installs the pinned buf via npm)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
read -r -a buf <<< "${BUF:-$root/dev buf}"

"${buf[@]}" lint
echo "contract: buf lint passed"

baseline="main~1"
if ! git rev-parse --verify --quiet "$baseline^{commit}" >/dev/null; then
  echo "contract: no previous main commit ($baseline); breaking check skipped"
  exit 0
fi
if ! git ls-tree -r --name-only "$baseline" -- protos | grep -q '\.proto$' ||
   ! git cat-file -e "$baseline:buf.yaml" 2>/dev/null; then
  echo "contract: $baseline has no protos/ module yet; breaking check skipped"
  exit 0
fi
"${buf[@]}" breaking --against ".git#branch=main,ref=HEAD~1"
echo "contract: no breaking change against $baseline ($(git rev-parse --short "$baseline"))"
